// The runner app: a status screen over the job loop in JobRunner.

import SwiftUI
import UIKit

@main
struct BenchlabRunnerApp: App {
    @StateObject private var runner = JobRunner()
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            // The screen stays on for as long as the app is in front, not only while a job runs:
            // the host pushes models and starts the next repeat between jobs, and a phone that
            // auto-locks then suspends the app (UIApplication.isIdleTimerDisabled, iOS 2+).
            StatusView(runner: runner)
                .onAppear { keepAwake(scenePhase == .active) }
                .onNewValue(of: scenePhase) { phase in
                    keepAwake(phase == .active)
                }
        }
    }

    private func keepAwake(_ awake: Bool) {
        UIApplication.shared.isIdleTimerDisabled = awake
    }
}

struct StatusView: View {
    @ObservedObject var runner: JobRunner

    var body: some View {
        NavigationStack {
            List {
                Section("Runner") {
                    LabeledContent("Mode", value: runner.mode)
                    LabeledContent("Current job", value: runner.currentJob ?? "none")
                    LabeledContent("Jobs done", value: "\(runner.jobsDone)")
                }
                Section("Last result") {
                    Text(runner.lastResult ?? "none yet")
                        .font(.system(.footnote, design: .monospaced))
                }
                Section("This phone") {
                    LabeledContent("Model", value: runner.facts.deviceModel)
                    LabeledContent("iOS", value: "\(runner.facts.osVersion) (\(runner.facts.osBuild ?? "?"))")
                    LabeledContent("App", value: runner.facts.appVersion)
                    LabeledContent("Protocol", value: "schema \(protocolSchemaVersion)")
                }
                Section {
                    Text("benchlab puts jobs in Documents/inbox and reads results from Documents/outbox. "
                        + "Keep this app in the foreground while a suite runs.")
                        .font(.footnote)
                        .foregroundStyle(.secondary)
                }
            }
            .navigationTitle("Benchlab Runner")
        }
    }
}

extension View {
    /// Calls `action` with each new value of `value`: onChange(of:initial:_:) from iOS 17, where the
    /// one-argument onChange(of:perform:) is deprecated, and that one on iOS 16, which lacks the other.
    @ViewBuilder
    func onNewValue<Value: Equatable>(of value: Value, _ action: @escaping (Value) -> Void) -> some View {
        if #available(iOS 17.0, *) {
            onChange(of: value) { _, newValue in action(newValue) }
        } else {
            onChange(of: value, perform: action)
        }
    }
}
