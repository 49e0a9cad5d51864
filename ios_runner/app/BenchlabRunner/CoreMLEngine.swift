// The engine interface the job executor times, and its Core ML implementation.

import CoreML
import Foundation

/// One model input as the engine takes it: its shape and type (a TensorType name), and whether it
/// holds real values (else ids, counts or masks), which decides what synthetic values it gets.
struct InputSpec {
    let name: String
    let shape: [Int]
    let dtype: String
    let realValued: Bool
}

/// A loaded model ready to run: inputs are set outside the timed region, `predict` is timed.
protocol InferenceEngine: AnyObject {
    /// Microseconds spent compiling the model on the phone (Core ML mlpackage), else nil.
    var compileUs: Double? { get }
    /// Microseconds spent making the model ready to run (see "Result" in protocol.py).
    var loadUs: Double { get }
    /// The runtime's own version when it has one apart from the OS (LiteRT), else nil.
    var runtimeVersion: String? { get }
    /// The LiteRT delegate created ("xnnpack", "coreml", "metal"); nil for Core ML.
    var litertDelegate: String? { get }
    /// LiteRT: graph nodes the delegate replaced, of all nodes; nil when not known (Core ML).
    var nodeCounts: (delegated: Int, total: Int)? { get }
    /// Core ML: each operation's planned compute device, or nil and why not; (nil, nil) for LiteRT.
    func computePlan() -> (placement: [OpPlacement]?, note: String?)
    /// The model's input names, in the model's order.
    var inputNames: [String] { get }
    /// The model's own inputs, for feeding synthetic values when a job has no inputs.
    func inputSpecs() throws -> [InputSpec]
    /// Puts sample `sample` of every input in place.
    func setInputs(_ inputs: [InputTensor], sample: Int) throws
    /// Runs the model once on the inputs in place.
    func predict() throws
    /// The outputs of the last prediction, in a stable order.
    func readOutputs() throws -> [OutputTensor]
    /// Frees the model and anything it left on disk.
    func close()
}

/// Runs `body` and returns how long it took in microseconds (monotonic clock).
func timed(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return microseconds(since: start)
}

func microseconds(since start: UInt64) -> Double {
    Double(DispatchTime.now().uptimeNanoseconds - start) / 1000.0
}

final class CoreMLEngine: InferenceEngine {
    let compileUs: Double?
    let loadUs: Double
    let runtimeVersion: String? = nil
    let litertDelegate: String? = nil
    let nodeCounts: (delegated: Int, total: Int)? = nil
    let inputNames: [String]
    private let model: MLModel
    private let compiledURL: URL
    private let configuration: MLModelConfiguration
    private var provider: MLFeatureProvider?
    private var lastOutput: MLFeatureProvider?

    /// Compiles the .mlpackage on the phone and loads it for `computeUnits`.
    init(packageURL: URL, computeUnits: String) throws {
        let units: MLComputeUnits
        switch computeUnits {
        case "cpuOnly": units = .cpuOnly
        case "cpuAndGPU": units = .cpuAndGPU
        case "cpuAndNeuralEngine": units = .cpuAndNeuralEngine
        case "all": units = .all
        default:
            throw JobFailure.failed(
                "compute_units \(computeUnits) is not one of cpuOnly, cpuAndGPU, cpuAndNeuralEngine, all")
        }
        var compiled: URL?
        let compileUs: Double
        do {
            compileUs = try timed { compiled = try MLModel.compileModel(at: packageURL) }
        } catch {
            throw JobFailure.failed("Core ML could not compile the model: \(oneLine(error))")
        }
        guard let compiledURL = compiled else {
            throw JobFailure.failed("Core ML returned no compiled model")
        }
        let configuration = MLModelConfiguration()
        configuration.computeUnits = units
        var loaded: MLModel?
        let loadUs: Double
        do {
            loadUs = try timed { loaded = try MLModel(contentsOf: compiledURL, configuration: configuration) }
        } catch {
            try? FileManager.default.removeItem(at: compiledURL)
            throw JobFailure.failed("Core ML could not load the model: \(oneLine(error))")
        }
        guard let model = loaded else {
            try? FileManager.default.removeItem(at: compiledURL)
            throw JobFailure.failed("Core ML returned no model")
        }
        self.compileUs = compileUs
        self.loadUs = loadUs
        self.compiledURL = compiledURL
        self.configuration = configuration
        self.model = model
        self.inputNames = model.modelDescription.inputDescriptionsByName.keys.sorted()
    }

    /// int32 multi-arrays take int32 files (ids: zeros when synthetic); the others float32 files.
    func inputSpecs() throws -> [InputSpec] {
        let descriptions = model.modelDescription.inputDescriptionsByName
        return try inputNames.map { name -> InputSpec in
            guard let constraint = descriptions[name]?.multiArrayConstraint else {
                throw JobFailure.unsupported(
                    "input \(name) is not a multi-array; the runner feeds multi-arrays only "
                        + "(convert the model with a TensorType input)")
            }
            let ids = constraint.dataType == .int32
            return InputSpec(
                name: name, shape: constraint.shape.map { $0.intValue }, dtype: ids ? "int32" : "float32",
                realValued: !ids)
        }
    }

    func setInputs(_ inputs: [InputTensor], sample: Int) throws {
        let descriptions = model.modelDescription.inputDescriptionsByName
        var features: [String: MLFeatureValue] = [:]
        for input in inputs {
            guard let description = descriptions[input.name] else {
                throw JobFailure.failed("input \(input.name) is not a model input")
            }
            guard description.type == .multiArray else {
                throw JobFailure.unsupported(
                    "input \(input.name) is not a multi-array; the runner feeds multi-arrays only "
                        + "(convert the model with a TensorType input)")
            }
            let dataType = description.multiArrayConstraint?.dataType ?? .float32
            let array = try makeMultiArray(input, sample: sample, dataType: dataType)
            features[input.name] = MLFeatureValue(multiArray: array)
        }
        provider = try MLDictionaryFeatureProvider(dictionary: features)
    }

    func predict() throws {
        guard let provider = provider else {
            throw JobFailure.failed("predict called before the inputs were set")
        }
        lastOutput = try autoreleasepool { try model.prediction(from: provider) }
    }

    /// Multi-array outputs as float32, by name; class labels and dictionaries are left out.
    func readOutputs() throws -> [OutputTensor] {
        guard let output = lastOutput else {
            throw JobFailure.failed("no prediction to read outputs from")
        }
        var outputs: [OutputTensor] = []
        for name in output.featureNames.sorted() {
            guard let array = output.featureValue(for: name)?.multiArrayValue else { continue }
            // Converting through MLShapedArray honours the strides Core ML pads outputs with.
            let shaped = MLShapedArray<Float>(converting: array)
            let data = shaped.scalars.withUnsafeBufferPointer { Data(buffer: $0) }
            outputs.append(OutputTensor(name: name, shape: shaped.shape, dtype: "float32", data: data))
        }
        return outputs
    }

    /// Where Core ML plans to run each operation for this job's compute units. Core ML runs an
    /// operation the GPU or the Neural Engine cannot take on the CPU, silently; this is how a
    /// result shows it. MLComputePlan.load(contentsOf:configuration:) and deviceUsage(for:) are
    /// iOS 17.4+ (not timed, and called after the timed runs: it loads the model again).
    func computePlan() -> (placement: [OpPlacement]?, note: String?) {
        guard #available(iOS 17.4, *) else {
            return (nil, "not available: MLComputePlan needs iOS 17.4 or later")
        }
        let handoff = PlacementHandoff()
        let url = compiledURL
        let units = configuration.computeUnits
        // The job runs on a serial DispatchQueue, not in an async context: wait for the async load.
        // Only Sendable values cross into the task (a URL, an enum) and out of it (strings): the
        // MLComputePlan, which is not Sendable, never leaves it.
        Task.detached {
            handoff.value = await loadPlacement(compiledModel: url, computeUnits: units)
            handoff.done.signal()
        }
        handoff.done.wait()
        return handoff.value
    }

    func close() {
        lastOutput = nil
        provider = nil
        try? FileManager.default.removeItem(at: compiledURL)
    }

    /// Sample `sample` of a float32 or int32 input file as a multi-array of the model's type.
    private func makeMultiArray(_ input: InputTensor, sample: Int, dataType: MLMultiArrayDataType) throws
        -> MLMultiArray
    {
        let nsShape = input.shape.map { NSNumber(value: $0) }
        if (input.dtype == "float32" && dataType == .float32) || (input.dtype == "int32" && dataType == .int32) {
            let array = try MLMultiArray(shape: nsShape, dataType: dataType)
            // A multi-array we create is contiguous in C order, like the input file.
            input.withSampleBytes(sample) { bytes in
                _ = memcpy(array.dataPointer, bytes.baseAddress!, bytes.count)
            }
            return array
        }
        // Other pairs (float32 into float16 or double, ids into floats ...): element by element (not timed).
        let numbers: [NSNumber]
        switch input.dtype {
        case "float32": numbers = input.elements(sample: sample, as: Float.self).map { NSNumber(value: $0) }
        case "int32": numbers = input.elements(sample: sample, as: Int32.self).map { NSNumber(value: $0) }
        default:
            throw JobFailure.failed("input \(input.name): Core ML inputs come as float32 or int32 files, "
                + "the job gives \(input.dtype)")
        }
        let array = try MLMultiArray(shape: nsShape, dataType: dataType)
        for (index, number) in numbers.enumerated() {
            array[index] = number
        }
        return array
    }
}

/// What the task that loads the compute plan hands back to the job thread waiting for it.
/// `@unchecked Sendable`: `value` is written once, before `done.signal()`, and read only after
/// `done.wait()`, so the semaphore orders every access; it holds strings only.
private final class PlacementHandoff: @unchecked Sendable {
    var value: (placement: [OpPlacement]?, note: String?) = (nil, nil)
    let done = DispatchSemaphore(value: 0)
}

/// Each operation's planned compute device in a compiled model for `computeUnits`, or none and why.
@available(iOS 17.4, *)
private func loadPlacement(compiledModel url: URL, computeUnits: MLComputeUnits) async
    -> (placement: [OpPlacement]?, note: String?)
{
    let configuration = MLModelConfiguration()
    configuration.computeUnits = computeUnits
    let plan: MLComputePlan
    do {
        plan = try await MLComputePlan.load(contentsOf: url, configuration: configuration)
    } catch {
        return (nil, "not available: MLComputePlan failed: \(oneLine(error))")
    }
    guard case let .program(program) = plan.modelStructure else {
        return (nil, "not available: placement is read for ML programs only; this model is not one")
    }
    guard let main = program.functions["main"] else {
        return (nil, "not available: the ML program has no main function")
    }
    return (placements(main.block.operations, plan: plan), nil)
}

/// Every operation with a device usage (constants have none), nested blocks included, in program order.
@available(iOS 17.4, *)
private func placements(_ operations: [MLModelStructure.Program.Operation], plan: MLComputePlan) -> [OpPlacement] {
    var found: [OpPlacement] = []
    for operation in operations {
        if let usage = plan.deviceUsage(for: operation) {
            found.append(
                OpPlacement(
                    op: operation.operatorName, device: deviceName(usage.preferred),
                    supported: usage.supported.map(deviceName)))
        }
        for block in operation.blocks {
            found += placements(block.operations, plan: plan)
        }
    }
    return found
}

/// MLComputeDevice (iOS 17+) as protocol.py's COMPUTE_DEVICES name it.
@available(iOS 17.0, *)
private func deviceName(_ device: MLComputeDevice) -> String {
    switch device {
    case .cpu: return "cpu"
    case .gpu: return "gpu"
    case .neuralEngine: return "neuralEngine"
    @unknown default: return "other"
    }
}
