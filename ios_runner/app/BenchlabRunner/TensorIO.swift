// Raw tensor files (see "Tensor files" in ios_runner/protocol.py).

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

/// One model input: its name, one sample's shape, its element type, and its samples, read one at a time.
///
/// A file's samples are not copied into memory: `data` maps the file (Data.ReadingOptions
/// .alwaysMapped), and each sample is copied out on its own. Mapped file pages are clean, so
/// iOS can drop them under memory pressure instead of counting them against the app as it does
/// heap copies; a 1,000-image evaluation set costs one image of heap.
struct InputTensor {
    let name: String
    let shape: [Int]
    /// The TensorType name of the values in `data`.
    let dtype: String
    /// How many samples `data` holds.
    let samples: Int
    private let data: Data

    /// Synthetic input: one sample of float32 `values`.
    init(name: String, shape: [Int], values: [Float]) {
        self.init(
            name: name, shape: shape, dtype: "float32", samples: 1,
            data: values.withUnsafeBufferPointer { Data(buffer: $0) })
    }

    private init(name: String, shape: [Int], dtype: String, samples: Int, data: Data) {
        self.name = name
        self.shape = shape
        self.dtype = dtype
        self.samples = samples
        self.data = data
    }

    /// Synthetic input: one sample of zeros of `dtype` (a valid token id, an empty mask).
    static func zeros(name: String, shape: [Int], dtype: String) -> InputTensor {
        let size = (TensorType.sizes[dtype] ?? 4) * shape.reduce(1, *)
        return InputTensor(name: name, shape: shape, dtype: dtype, samples: 1, data: Data(count: size))
    }

    /// The file's tensors, mapped; their size was checked against `file`.
    static func mapped(_ file: TensorFile, data: Data) -> InputTensor {
        InputTensor(name: file.name, shape: file.shape, dtype: file.elementType, samples: file.samples, data: data)
    }

    /// The same samples under the model's own name for the input.
    func named(_ modelName: String) -> InputTensor {
        InputTensor(name: modelName, shape: shape, dtype: dtype, samples: samples, data: data)
    }

    /// Bytes in one sample.
    var bytesPerSample: Int { (TensorType.sizes[dtype] ?? 4) * shape.reduce(1, *) }

    /// Calls `body` with sample `sample`'s bytes as the file holds them (no copy).
    func withSampleBytes<R>(_ sample: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let size = bytesPerSample
        let offset = sample * size
        return try data.withUnsafeBytes { all in
            try body(UnsafeRawBufferPointer(rebasing: all[offset..<(offset + size)]))
        }
    }

    /// Sample `sample`'s values as `T` (iPhones are little-endian, as the file is: no byte swapping).
    /// The caller checks that `T` is the element type `dtype` names.
    func elements<T>(sample: Int, as _: T.Type) -> [T] {
        let size = bytesPerSample
        let start = data.startIndex + sample * size
        let count = size / MemoryLayout<T>.stride
        return [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = data.copyBytes(to: buffer, from: start..<(start + size))
            initialized = count
        }
    }
}

/// One output of one prediction: its raw little-endian values of `dtype` (a TensorType name).
struct OutputTensor {
    let name: String
    let shape: [Int]
    let dtype: String
    let data: Data
}

/// Appends each sample's outputs to `outbox/<job_id>.out<k>.f32` as it comes (see "Tensor files").
final class OutputWriter {
    private let jobId: String
    private let outbox: URL
    private var files: [(name: String, shape: [Int], dtype: String, fileName: String, handle: FileHandle)] = []
    private var samples = 0
    private var closed = false

    init(jobId: String, outbox: URL) {
        self.jobId = jobId
        self.outbox = outbox
    }

    /// Writes sample `sample`'s outputs; the first sample fixes the outputs' names, shapes and types.
    func append(_ outputs: [OutputTensor], sample: Int) throws {
        if files.isEmpty {
            for (index, output) in outputs.enumerated() {
                let fileName = "\(jobId).out\(index).f32"
                let url = outbox.appendingPathComponent(fileName)
                guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                    throw JobFailure.failed("cannot create the output file \(fileName)")
                }
                files.append((name: output.name, shape: output.shape, dtype: output.dtype, fileName: fileName,
                              handle: try FileHandle(forWritingTo: url)))
            }
        }
        guard outputs.map({ $0.name }) == files.map({ $0.name }),
            outputs.map({ $0.shape }) == files.map({ $0.shape }),
            outputs.map({ $0.dtype }) == files.map({ $0.dtype })
        else {
            throw JobFailure.failed("the model gave different outputs (names, shapes or types) for sample \(sample)")
        }
        for (index, output) in outputs.enumerated() {
            // FileHandle.write(contentsOf:) is iOS 13.4+.
            try files[index].handle.write(contentsOf: output.data)
        }
        samples += 1
    }

    /// The records of the files written, once every sample is in.
    func finish() throws -> [TensorFile] {
        close()
        return files.map {
            TensorFile(name: $0.name, file: $0.fileName, shape: $0.shape, samples: samples, dtype: $0.dtype)
        }
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
            guard let size = TensorType.sizes[file.elementType] else {
                throw JobFailure.failed(
                    "input \(file.name): dtype \(file.elementType) is not one of "
                        + TensorType.sizes.keys.sorted().joined(separator: ", "))
            }
            let perSample = file.elementsPerSample
            let expected = size * perSample * file.samples
            guard perSample > 0, data.count == expected else {
                throw JobFailure.failed(
                    "input \(file.name): \(data.count) bytes, expected \(expected) for "
                        + "\(file.samples) x \(file.shape) \(file.elementType)")
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
