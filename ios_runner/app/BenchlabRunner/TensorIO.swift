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

/// One model input: its name, one sample's shape and every sample's values.
struct InputTensor {
    let name: String
    let shape: [Int]
    let samples: [[Float]]
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

    /// Reads the job's input files, checking sizes against shapes and sample counts.
    static func readInputs(_ files: [TensorFile], documents: URL) throws -> [InputTensor] {
        try files.map { file in
            let url = try resolve(file.file, in: documents)
            let data: Data
            do {
                data = try Data(contentsOf: url)
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
            var values = [Float](repeating: 0, count: perSample * file.samples)
            _ = values.withUnsafeMutableBytes { data.copyBytes(to: $0) }
            // iPhones are little-endian, as the file is; no byte swapping needed.
            let samples = (0..<file.samples).map { index in
                Array(values[(index * perSample)..<((index + 1) * perSample)])
            }
            return InputTensor(name: file.name, shape: file.shape, samples: samples)
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

    /// Writes output tensors (every sample, in order) next to the result and returns their records.
    static func writeOutputs(
        _ outputs: [(name: String, shape: [Int], samples: [[Float]])], jobId: String, outbox: URL
    ) throws -> [TensorFile] {
        try outputs.enumerated().map { index, output in
            let fileName = "\(jobId).out\(index).f32"
            var flat: [Float] = []
            flat.reserveCapacity(output.samples.reduce(0) { $0 + $1.count })
            for sample in output.samples {
                flat.append(contentsOf: sample)
            }
            let data = flat.withUnsafeBufferPointer { Data(buffer: $0) }
            try data.write(to: outbox.appendingPathComponent(fileName))
            return TensorFile(
                name: output.name, file: fileName, shape: output.shape, samples: output.samples.count)
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
