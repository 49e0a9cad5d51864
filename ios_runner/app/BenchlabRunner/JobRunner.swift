// Watches the inbox and runs jobs one at a time on a serial queue.

import Foundation

/// State the status screen shows. Used from the main thread only; jobs run on `queue`.
final class JobRunner: ObservableObject {
    @Published private(set) var mode = "starting"
    @Published private(set) var currentJob: String?
    @Published private(set) var lastResult: String?
    @Published private(set) var jobsDone = 0

    let folders = Folders.appDocuments()
    let facts = DeviceFacts.current()
    private let queue = DispatchQueue(label: "org.benchlab.runner.jobs", qos: .userInitiated)
    private var timer: Timer?
    private var busy = false
    private var lastStatusWrite = Date.distantPast

    /// How often the inbox is listed, and how often the heartbeat file is rewritten when idle.
    private let pollInterval: TimeInterval = 1
    private let heartbeatInterval: TimeInterval = 5

    init() {
        folders.create()
        let executor = JobExecutor(folders: folders, facts: facts)
        for file in folders.jobFiles(in: folders.running) {
            lastResult = executor.recordInterrupted(jobFile: file)
        }
        mode = "waiting for jobs"
        writeStatus()
        // In the common run-loop modes: a timer scheduled in the default mode alone does not fire
        // while the list is being scrolled (the tracking mode), and the heartbeat would go stale.
        let timer = Timer(timeInterval: pollInterval, repeats: true) { [weak self] _ in
            self?.poll()
        }
        RunLoop.main.add(timer, forMode: .common)
        self.timer = timer
    }

    private func poll() {
        if !busy, let next = folders.jobFiles(in: folders.inbox).first {
            start(next)
        } else if Date().timeIntervalSince(lastStatusWrite) >= heartbeatInterval {
            writeStatus()
        }
    }

    private func start(_ inboxFile: URL) {
        let runningFile: URL
        do {
            runningFile = try folders.move(inboxFile, to: folders.running)
        } catch {
            // The host may still be renaming it into place; try again on the next poll.
            return
        }
        busy = true
        currentJob = runningFile.deletingPathExtension().lastPathComponent
        mode = "running"
        writeStatus()
        let executor = JobExecutor(folders: folders, facts: facts)
        queue.async { [weak self] in
            let summary = executor.run(jobFile: runningFile)
            DispatchQueue.main.async {
                self?.finished(summary)
            }
        }
    }

    private func finished(_ summary: String) {
        busy = false
        currentJob = nil
        jobsDone += 1
        lastResult = summary
        mode = "waiting for jobs"
        writeStatus()
    }

    private func writeStatus() {
        lastStatusWrite = Date()
        let status = RunnerStatus(
            schemaVersion: protocolSchemaVersion,
            appVersion: facts.appVersion,
            deviceModel: facts.deviceModel,
            osVersion: facts.osVersion,
            osBuild: facts.osBuild,
            state: busy ? "running" : "idle",
            currentJob: currentJob,
            jobsDone: jobsDone,
            thermalState: thermalStateRaw(),
            lowPowerMode: lowPowerModeEnabled(),
            updatedAt: lastStatusWrite)
        do {
            let data = try ProtocolJSON.encoder().encode(status)
            try folders.writeAtomically(data, to: folders.statusFile)
        } catch {
            NSLog("benchlab runner: cannot write the status file: %@", oneLine(error))
        }
    }
}
