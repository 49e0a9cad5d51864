// The runner app: a status screen over the job loop in JobRunner.

import SwiftUI

@main
struct BenchlabRunnerApp: App {
    @StateObject private var runner = JobRunner()

    var body: some Scene {
        WindowGroup {
            StatusView(runner: runner)
        }
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
