// Raw float32 tensor files (see "Tensor files" in ios_runner/protocol.py).

import Foundation

/// A failure that ends a job: `status` is "failed" or "unsupported", `message` one line.
struct JobFailure: Error {
    let status: String
    let message: String

    static func failed(_ message: String) -> JobFailure {
        JobFailure(status: "failed", message: message)
    }

    static func unsupported(_ message: String) -> JobFailure {
        JobFailure(status: "unsupported", message: message)
    }
}

/// One model input: its name, one sample's shape, and its samples, read one at a time.
///
/// A file's samples are not copied into memory: `data` maps the file (Data.ReadingOptions
/// .alwaysMapped), and `values(sample:)` copies out one sample. Mapped file pages are clean, so
/// iOS can drop them under memory pressure instead of counting them against the app as it does
/// heap copies; a 1,000-image evaluation set costs one image of heap.
struct InputTensor {
    let name: String
    let shape: [Int]
    /// How many samples `data` holds.
    let samples: Int
    private let data: Data

    /// Synthetic input: one sample of `values`.
    init(name: String, shape: [Int], values: [Float]) {
        self.init(name: name, shape: shape, samples: 1, data: values.withUnsafeBufferPointer { Data(buffer: $0) })
    }

    private init(name: String, shape: [Int], samples: Int, data: Data) {
        self.name = name
        self.shape = shape
        self.samples = samples
        self.data = data
    }

    /// The file's tensors, mapped; their size was checked against `file`.
    static func mapped(_ file: TensorFile, data: Data) -> InputTensor {
        InputTensor(name: file.name, shape: file.shape, samples: file.samples, data: data)
    }

    /// The same samples under the model's own name for the input.
    func named(_ modelName: String) -> InputTensor {
        InputTensor(name: modelName, shape: shape, samples: samples, data: data)
    }

    /// Sample `sample`'s values (iPhones are little-endian, as the file is: no byte swapping).
    func values(sample: Int) -> [Float] {
        let count = shape.reduce(1, *)
        let start = data.startIndex + sample * count * MemoryLayout<Float>.size
        var values = [Float](repeating: 0, count: count)
        _ = values.withUnsafeMutableBytes { target in
            data.copyBytes(to: target, from: start..<(start + target.count))
        }
        return values
    }
}

/// Appends each sample's outputs to `outbox/<job_id>.out<k>.f32` as it comes (see "Tensor files").
final class OutputWriter {
    private let jobId: String
    private let outbox: URL
    private var files: [(name: String, shape: [Int], fileName: String, handle: FileHandle)] = []
    private var samples = 0
    private var closed = false

    init(jobId: String, outbox: URL) {
        self.jobId = jobId
        self.outbox = outbox
    }

    /// Writes sample `sample`'s outputs; the first sample fixes the outputs' names and shapes.
    func append(_ outputs: [(name: String, shape: [Int], values: [Float])], sample: Int) throws {
        if files.isEmpty {
            for (index, output) in outputs.enumerated() {
                let fileName = "\(jobId).out\(index).f32"
                let url = outbox.appendingPathComponent(fileName)
                guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                    throw JobFailure.failed("cannot create the output file \(fileName)")
                }
                files.append((name: output.name, shape: output.shape, fileName: fileName,
                              handle: try FileHandle(forWritingTo: url)))
            }
        }
        guard outputs.map({ $0.name }) == files.map({ $0.name }),
            outputs.map({ $0.shape }) == files.map({ $0.shape })
        else {
            throw JobFailure.failed("the model gave different outputs (names or shapes) for sample \(sample)")
        }
        for (index, output) in outputs.enumerated() {
            // FileHandle.write(contentsOf:) is iOS 13.4+.
            try files[index].handle.write(contentsOf: output.values.withUnsafeBufferPointer { Data(buffer: $0) })
        }
        samples += 1
    }

    /// The records of the files written, once every sample is in.
    func finish() throws -> [TensorFile] {
        close()
        return files.map { TensorFile(name: $0.name, file: $0.fileName, shape: $0.shape, samples: samples) }
    }

    /// Closes the files (once; FileHandle.close() throws, iOS 13+).
    func close() {
        guard !closed else { return }
        closed = true
        for file in files {
            try? file.handle.close()
        }
    }
}

enum TensorIO {
    /// Resolves a job path against Documents, refusing absolute paths and "..".
    static func resolve(_ relative: String, in documents: URL) throws -> URL {
        let parts = relative.split(separator: "/")
        if relative.isEmpty || relative.hasPrefix("/") || parts.contains("..") {
            throw JobFailure.failed("path \(relative) must be relative to Documents, without '..'")
        }
        return documents.appendingPathComponent(relative)
    }

    /// Maps the job's input files, checking sizes against shapes and sample counts.
    static func openInputs(_ files: [TensorFile], documents: URL) throws -> [InputTensor] {
        try files.map { file in
            let url = try resolve(file.file, in: documents)
            let data: Data
            do {
                data = try Data(contentsOf: url, options: .alwaysMapped)
            } catch {
                throw JobFailure.failed("cannot read input \(file.name) at \(file.file): \(oneLine(error))")
            }
            let perSample = file.elementsPerSample
            let expected = 4 * perSample * file.samples
            guard perSample > 0, data.count == expected else {
                throw JobFailure.failed(
                    "input \(file.name): \(data.count) bytes, expected \(expected) for "
                        + "\(file.samples) x \(file.shape) float32")
            }
            return InputTensor.mapped(file, data: data)
        }
    }

    /// Deterministic pseudo-random values in [0, 1) for a job without input files.
    static func syntheticSample(count: Int, seed: UInt64) -> [Float] {
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        return (0..<count).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(state >> 40) / Float(1 << 24)
        }
    }

}

/// An error as one line of text, for the result's `error`.
func oneLine(_ error: Error) -> String {
    if let failure = error as? JobFailure {
        return failure.message
    }
    let nsError = error as NSError
    let text = "\(nsError.localizedDescription) (\(nsError.domain) \(nsError.code))"
    return text.replacingOccurrences(of: "\n", with: " ")
}
