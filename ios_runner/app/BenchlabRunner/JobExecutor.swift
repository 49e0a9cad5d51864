// Runs one job file and writes its result (the folder contract is in ios_runner/protocol.py).

import Foundation

/// The app's folders inside Documents.
struct Folders {
    let documents: URL

    var inbox: URL { documents.appendingPathComponent(Folder.inbox, isDirectory: true) }
    var running: URL { documents.appendingPathComponent(Folder.running, isDirectory: true) }
    var outbox: URL { documents.appendingPathComponent(Folder.outbox, isDirectory: true) }
    var done: URL { documents.appendingPathComponent(Folder.done, isDirectory: true) }
    var statusFile: URL { documents.appendingPathComponent(Folder.statusFile) }

    static func appDocuments() -> Folders {
        Folders(documents: FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0])
    }

    func create() {
        for folder in [inbox, running, outbox, done] {
            try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        }
        for folder in ["models", "inputs"] {
            try? FileManager.default.createDirectory(
                at: documents.appendingPathComponent(folder, isDirectory: true), withIntermediateDirectories: true)
        }
    }

    /// `*.json` files in `folder`, by name (the host names jobs so that this is their order).
    func jobFiles(in folder: URL) -> [URL] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().map { folder.appendingPathComponent($0) }
    }

    /// Moves `file` into `folder`, replacing a file of the same name; returns the new place.
    @discardableResult
    func move(_ file: URL, to folder: URL) throws -> URL {
        let target = folder.appendingPathComponent(file.lastPathComponent)
        if FileManager.default.fileExists(atPath: target.path) {
            try FileManager.default.removeItem(at: target)
        }
        try FileManager.default.moveItem(at: file, to: target)
        return target
    }

    /// Writes `data` to `url` through a `.part` file and rename(2), so readers never see half of it
    /// and never miss it: rename replaces an existing `url` in one step (POSIX), where removing it
    /// first and then moving the new file in left a gap the host could read in.
    func writeAtomically(_ data: Data, to url: URL) throws {
        let partial = url.appendingPathExtension("part")
        try data.write(to: partial)
        guard rename(partial.path, url.path) == 0 else {
            let code = errno
            try? FileManager.default.removeItem(at: partial)
            throw NSError(domain: NSPOSIXErrorDomain, code: Int(code),
                          userInfo: [NSLocalizedDescriptionKey: "rename to \(url.lastPathComponent) failed: \(String(cString: strerror(code)))"])
        }
    }
}

struct JobExecutor {
    let folders: Folders
    let facts: DeviceFacts

    /// Runs a job already moved to running/, writes its result to outbox/, moves it to done/.
    /// Returns a one-line summary for the status screen. Never throws: a failure is a result.
    func run(jobFile: URL) -> String {
        let jobId = jobFile.deletingPathExtension().lastPathComponent
        var result = RunnerResult(
            jobId: jobId, facts: facts, startedAt: Date(), thermalStateBefore: thermalStateRaw(),
            lowPowerModeBefore: lowPowerModeEnabled())
        do {
            let job = try readJob(jobFile, expectedId: jobId)
            try validateSettings(job)
            echo(job, into: &result)
            try measure(job, into: &result)
            result.status = "ok"
        } catch let failure as JobFailure {
            result.status = failure.status
            result.error = failure.message
        } catch {
            result.status = "failed"
            result.error = oneLine(error)
        }
        result.thermalStateAfter = thermalStateRaw()
        result.lowPowerModeAfter = lowPowerModeEnabled()
        result.finishedAt = Date()
        return finish(result, jobFile: jobFile)
    }

    /// Each setting against its allowed values (protocol.py), before any is echoed into the result:
    /// an echoed bad value would make the whole result unreadable on the host.
    private func validateSettings(_ job: RunnerJob) throws {
        let checks: [(String, String?, [String])] = [
            ("format", job.format, Allowed.formats),
            ("compute_units", job.computeUnits, Allowed.computeUnits),
            ("delegate", job.delegate, Allowed.delegates),
        ]
        for (field, value, allowed) in checks {
            if let value = value, !allowed.contains(value) {
                throw JobFailure.failed("\(field) \(value) is not one of \(allowed.joined(separator: ", "))")
            }
        }
    }

    /// The job's settings, copied into its result (only once they are known to be valid).
    private func echo(_ job: RunnerJob, into result: inout RunnerResult) {
        result.format = job.format
        result.computeUnits = job.computeUnits
        result.delegate = job.delegate
        result.threads = job.threads
    }

    /// Writes a failed result for a job that was running when the app stopped, unless its result is
    /// already in outbox/: the app then stopped after writing it and before moving the job, and the
    /// result it wrote is the job's (overwriting it would turn a good measurement into "interrupted").
    func recordInterrupted(jobFile: URL) -> String {
        let jobId = jobFile.deletingPathExtension().lastPathComponent
        if FileManager.default.fileExists(atPath: resultURL(jobId).path) {
            retire(jobFile)
            return "\(jobId): result kept (the app stopped after writing it)"
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: jobFile.path)
        let startedAt = attributes?[.modificationDate] as? Date ?? Date()
        var result = RunnerResult(
            jobId: jobId, facts: facts, startedAt: startedAt, thermalStateBefore: thermalStateRaw(),
            lowPowerModeBefore: lowPowerModeEnabled())
        if let job = try? readJob(jobFile, expectedId: jobId), (try? validateSettings(job)) != nil {
            echo(job, into: &result)
        }
        result.status = "failed"
        result.error =
            "the runner app stopped while this job ran (it crashed or iOS ended it, often for using "
            + "too much memory); look for a JetsamEvent or crash report in the phone's analytics data"
        result.finishedAt = max(Date(), startedAt)
        return finish(result, jobFile: jobFile)
    }

    private func finish(_ finished: RunnerResult, jobFile: URL) -> String {
        // JSONEncoder throws on NaN and infinity, and a result never written leaves the host waiting
        // for its timeout: such numbers go out as null (or left out of a list), with a note.
        var result = finished.finiteOnly()
        // The error is one line (LiteRT messages can span several) and of a readable length.
        result.error = result.error.map { text in
            String(text.split(whereSeparator: { $0.isNewline }).joined(separator: " ").prefix(2000))
        }
        do {
            let data = try ProtocolJSON.encoder().encode(result)
            try folders.writeAtomically(data, to: resultURL(result.jobId))
        } catch {
            NSLog("benchlab runner: cannot write the result of %@: %@", result.jobId, oneLine(error))
        }
        retire(jobFile)
        return summary(result)
    }

    /// Where the result of job `jobId` goes (outbox/<job_id>.json).
    private func resultURL(_ jobId: String) -> URL {
        folders.outbox.appendingPathComponent("\(jobId).json")
    }

    /// Moves a job whose result is written out of running/, to done/.
    private func retire(_ jobFile: URL) {
        do {
            try folders.move(jobFile, to: folders.done)
        } catch {
            // Never run it again: a job left in running/ would be reported as interrupted.
            try? FileManager.default.removeItem(at: jobFile)
        }
    }

    private func summary(_ result: RunnerResult) -> String {
        guard result.status == "ok" else {
            return "\(result.jobId): \(result.status): \(result.error ?? "")"
        }
        let sorted = result.iterationsUs.sorted()
        let median = sorted.isEmpty ? 0 : sorted[sorted.count / 2]
        let medianMs = String(format: "%.2f", median / 1000)
        return "\(result.jobId): ok, median \(medianMs) ms over \(sorted.count) runs"
    }

    private func readJob(_ url: URL, expectedId: String) throws -> RunnerJob {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw JobFailure.failed("cannot read the job file: \(oneLine(error))")
        }
        let decoder = ProtocolJSON.decoder()
        guard let probe = try? decoder.decode(SchemaVersionProbe.self, from: data),
            let version = probe.schemaVersion
        else {
            throw JobFailure.failed("the job file is not a JSON object with a schema_version")
        }
        guard jobSchemaVersions.contains(version) else {
            throw JobFailure.failed(
                "job schema_version \(version) is not supported by this app (it reads "
                    + jobSchemaVersions.map(String.init).joined(separator: ", ")
                    + "); install the app built from the same benchlab checkout")
        }
        let job: RunnerJob
        do {
            job = try decoder.decode(RunnerJob.self, from: data)
        } catch {
            throw JobFailure.failed("the job file breaks schema_version \(version): \(describeDecoding(error))")
        }
        // Version 1 has float32 files only: a type there is not one this job may use.
        if version == 1, let typed = job.inputs.first(where: { $0.elementType != "float32" }) {
            throw JobFailure.failed(
                "input \(typed.name) is \(typed.elementType); schema_version 1 has float32 inputs only")
        }
        guard job.jobId == expectedId else {
            throw JobFailure.failed("job_id \(job.jobId) does not match the file name \(expectedId).json")
        }
        return job
    }

    private func measure(_ job: RunnerJob, into result: inout RunnerResult) throws {
        guard job.warmup >= 0, job.iterations >= 1 else {
            throw JobFailure.failed("warmup must be >= 0 and iterations >= 1")
        }
        let modelURL = try TensorIO.resolve(job.model, in: folders.documents)
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw JobFailure.failed("model \(job.model) is not on the phone")
        }
        var inputs = try TensorIO.openInputs(job.inputs, documents: folders.documents)
        let before = Footprint.read()
        result.memoryBeforeBytes = before?.current

        let engine: InferenceEngine
        switch job.format {
        case "mlpackage":
            guard let units = job.computeUnits else {
                throw JobFailure.failed("an mlpackage job needs compute_units")
            }
            engine = try CoreMLEngine(packageURL: modelURL, computeUnits: units)
        case "tflite":
            engine = try makeLiteRTEngine(modelURL: modelURL, job: job)
        default:
            throw JobFailure.failed("format \(job.format) is not one of mlpackage, tflite")
        }
        defer { engine.close() }
        result.compileUs = engine.compileUs
        result.loadUs = engine.loadUs
        result.runtimeVersion = engine.runtimeVersion
        result.litertDelegate = engine.litertDelegate
        result.delegatedNodes = engine.nodeCounts?.delegated
        result.totalNodes = engine.nodeCounts?.total
        result.memoryAfterLoadBytes = Footprint.read()?.current

        let writeOutputs = !inputs.isEmpty
        if inputs.isEmpty {
            inputs = try engine.inputSpecs().enumerated().map { index, input -> InputTensor in
                guard input.realValued else {
                    return InputTensor.zeros(name: input.name, shape: input.shape, dtype: input.dtype)
                }
                let count = input.shape.reduce(1, *)
                return InputTensor(
                    name: input.name, shape: input.shape,
                    values: TensorIO.syntheticSample(count: count, seed: UInt64(index)))
            }
        }
        inputs = try matchNames(inputs, modelNames: engine.inputNames)

        // Timed: the first prediction, the warmup runs, then every iteration, all on sample 0.
        try engine.setInputs(inputs, sample: 0)
        result.firstPredictionUs = try timed { try engine.predict() }
        for _ in 0..<job.warmup {
            let elapsed = try timed { try engine.predict() }
            result.warmupUs.append(elapsed)
        }
        for _ in 0..<job.iterations {
            let elapsed = try timed { try engine.predict() }
            result.iterationsUs.append(elapsed)
        }
        let after = Footprint.read()
        result.memoryAfterBytes = after?.current
        if let before = before, let after = after, after.lifetimePeak > before.lifetimePeak {
            // The process peak rose during this job, so it is this job's peak.
            result.memoryPeakBytes = after.lifetimePeak
        }
        // Only now: loading the compute plan loads the model again (memory) and may prepare the
        // Neural Engine, so done before, it would raise the memory figures and warm the first prediction.
        let plan = engine.computePlan()
        result.opPlacement = plan.placement
        result.opPlacementNote = plan.note

        // Not timed: every sample once, for the outputs benchlab scores accuracy on. Each sample's
        // outputs go to their files at once, so memory does not grow with the evaluation set.
        guard writeOutputs else { return }
        let writer = OutputWriter(jobId: job.jobId, outbox: folders.outbox)
        defer { writer.close() }
        for sample in 0..<inputs[0].samples {
            try autoreleasepool {
                try engine.setInputs(inputs, sample: sample)
                try engine.predict()
                try writer.append(try engine.readOutputs(), sample: sample)
            }
        }
        result.outputs = try writer.finish()
    }

    /// The job's inputs named as the model names them; one input each may differ in name.
    private func matchNames(_ inputs: [InputTensor], modelNames: [String]) throws -> [InputTensor] {
        if inputs.count == 1, modelNames.count == 1 {
            return [inputs[0].named(modelNames[0])]
        }
        let given = Set(inputs.map { $0.name })
        let missing = modelNames.filter { !given.contains($0) }
        let unknown = inputs.map { $0.name }.filter { !modelNames.contains($0) }
        guard missing.isEmpty, unknown.isEmpty else {
            throw JobFailure.failed(
                "job inputs \(inputs.map { $0.name }) do not match the model inputs \(modelNames)")
        }
        return inputs
    }
}

/// A JSON decoding error as "field.path: what is wrong".
func describeDecoding(_ error: Error) -> String {
    guard let decodingError = error as? DecodingError else { return oneLine(error) }
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.stringValue }.joined(separator: ".")
        return keys.isEmpty ? "(top level)" : keys
    }
    switch decodingError {
    case .keyNotFound(let key, let context):
        let parent = context.codingPath.isEmpty ? "" : path(context) + "."
        return "\(parent)\(key.stringValue) is missing"
    case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
        return "\(path(context)): \(context.debugDescription)"
    @unknown default:
        return oneLine(error)
    }
}
