// LiteRT (TensorFlow Lite) through its C API, with the XNNPACK, Core ML and Metal delegates.
//
// The C API is what the TensorFlowLiteSwift pod wraps; calling it directly keeps the app on the
// prebuilt TensorFlowLiteC, TensorFlowLiteCCoreML and TensorFlowLiteCMetal frameworks alone
// (one Swift package, see project.yml) and gives TfLiteVersion() for the result. Without that
// package the app still builds and answers tflite jobs with status "unsupported".

import Foundation

#if canImport(TensorFlowLiteC)
import TensorFlowLiteC
import TensorFlowLiteCCoreML
import TensorFlowLiteCMetal

/// The messages LiteRT reports through the interpreter's error reporter.
final class LiteRTErrorLog {
    var messages: [String] = []

    var text: String {
        messages.isEmpty ? "no message from LiteRT" : messages.joined(separator: "; ")
    }

    /// Forgets what LiteRT said so far, so that the next failure reports its own messages only.
    func clear() {
        messages.removeAll()
    }
}

/// Counts the graph nodes a delegate takes. The C API has no call for it, so the real delegate is
/// wrapped: LiteRT calls the wrapper's Prepare (TfLiteDelegate.Prepare, common.h) while
/// TfLiteInterpreterCreate applies delegates; the wrapper reads the execution plan
/// (TfLiteContext.GetExecutionPlan) before and after calling the real delegate's Prepare. Each node
/// the delegate took left the plan, and one kernel node per partition (a registration whose
/// builtin_code is kTfLiteBuiltinDelegate) came in (what LiteRT logs as "Replacing N out of M
/// node(s) with delegate"). The real delegate's own Prepare gets its own pointer, so the kernels
/// and tensors it creates refer to it, never to the wrapper.
final class DelegateProbe {
    let inner: UnsafeMutablePointer<TfLiteDelegate>
    /// What is handed to TfLiteInterpreterOptionsAddDelegate; freed with the probe.
    let wrapper: UnsafeMutablePointer<TfLiteDelegate>
    private(set) var counts: (delegated: Int, total: Int)?

    init(wrapping inner: UnsafeMutablePointer<TfLiteDelegate>) {
        self.inner = inner
        wrapper = UnsafeMutablePointer<TfLiteDelegate>.allocate(capacity: 1)
        wrapper.initialize(to: TfLiteDelegate())
        wrapper.pointee.flags = inner.pointee.flags
        wrapper.pointee.Prepare = { context, delegate in
            guard let context = context, let data = delegate?.pointee.data_ else { return kTfLiteError }
            return Unmanaged<DelegateProbe>.fromOpaque(data).takeUnretainedValue().prepare(context)
        }
        wrapper.pointee.data_ = Unmanaged.passUnretained(self).toOpaque()
    }

    deinit {
        wrapper.deinitialize(count: 1)
        wrapper.deallocate()
    }

    private func prepare(_ context: UnsafeMutablePointer<TfLiteContext>) -> TfLiteStatus {
        guard let innerPrepare = inner.pointee.Prepare else { return kTfLiteError }
        let before = plan(context)
        let status = innerPrepare(context, inner)
        if status == kTfLiteOk, let before = before, let after = plan(context) {
            let kernels = after.filter { isDelegateKernel(context, node: $0) }.count
            counts = (delegated: before.count - (after.count - kernels), total: before.count)
        }
        return status
    }

    private func plan(_ context: UnsafeMutablePointer<TfLiteContext>) -> [Int32]? {
        var array: UnsafeMutablePointer<TfLiteIntArray>?
        guard context.pointee.GetExecutionPlan?(context, &array) == kTfLiteOk, let array = array else {
            return nil
        }
        // TfLiteIntArray is {int size; int data[];}: Swift does not import the flexible array
        // member, which starts right after `size`.
        let data = UnsafeRawPointer(array).advanced(by: MemoryLayout<Int32>.size).assumingMemoryBound(to: Int32.self)
        return Array(UnsafeBufferPointer(start: data, count: Int(array.pointee.size)))
    }

    private func isDelegateKernel(_ context: UnsafeMutablePointer<TfLiteContext>, node index: Int32) -> Bool {
        var node: UnsafeMutablePointer<TfLiteNode>?
        var registration: UnsafeMutablePointer<TfLiteRegistration>?
        guard context.pointee.GetNodeAndRegistration?(context, index, &node, &registration) == kTfLiteOk,
            let registration = registration
        else { return false }
        return registration.pointee.builtin_code == Int32(kTfLiteBuiltinDelegate.rawValue)
    }
}

final class LiteRTEngine: InferenceEngine {
    let compileUs: Double? = nil
    let loadUs: Double
    let runtimeVersion: String?
    let litertDelegate: String?
    let inputNames: [String]
    private let model: OpaquePointer
    private let options: OpaquePointer
    private let interpreter: OpaquePointer
    private let probe: DelegateProbe
    private let releaseDelegate: () -> Void
    private let log: LiteRTErrorLog

    var nodeCounts: (delegated: Int, total: Int)? { probe.counts }

    func computePlan() -> (placement: [OpPlacement]?, note: String?) { (nil, nil) }

    /// Loads the model and builds an interpreter with `delegate`: "cpu" runs on XNNPACK (as
    /// LiteRT's benchmark_model and Android's runner do by default, so iPhone and Android CPU
    /// numbers compare), "coreml" the Core ML delegate, "metal" the GPU delegate. `loadUs` covers
    /// delegate creation, interpreter creation (where the delegate takes its part of the graph)
    /// and tensor allocation.
    init(modelURL: URL, delegate delegateName: String, threads: Int?, precisionLossAllowed: Bool) throws {
        let log = LiteRTErrorLog()
        guard let model = TfLiteModelCreateFromFile(modelURL.path) else {
            throw JobFailure.failed("LiteRT could not read the model \(modelURL.lastPathComponent)")
        }
        guard let options = TfLiteInterpreterOptionsCreate() else {
            TfLiteModelDelete(model)
            throw JobFailure.failed("LiteRT could not create interpreter options")
        }
        TfLiteInterpreterOptionsSetErrorReporter(
            options,
            { userData, format, args in
                // va_list is imported as optional on arm64 and not on x86_64.
                let optionalArgs: CVaListPointer? = args
                guard let userData = userData, let format = format, let arguments = optionalArgs else {
                    return
                }
                let size = 2048
                var buffer = [CChar](repeating: 0, count: size)
                _ = vsnprintf(&buffer, size, format, arguments)
                let message = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                Unmanaged<LiteRTErrorLog>.fromOpaque(userData).takeUnretainedValue().messages.append(message)
            },
            Unmanaged.passUnretained(log).toOpaque())
        if let threads = threads {
            TfLiteInterpreterOptionsSetNumThreads(options, Int32(threads))
        }

        let start = DispatchTime.now().uptimeNanoseconds
        let delegate: UnsafeMutablePointer<TfLiteDelegate>
        let releaseDelegate: () -> Void
        let createdName: String
        switch delegateName {
        case "cpu":
            // xnnpack_delegate.h: TfLiteXNNPackDelegateOptionsDefault / Create / Delete. As in
            // LiteRT's tflite_with_xnnpack.cc, 0 threads (no thread pool) unless more than one.
            var xnnpackOptions = TfLiteXNNPackDelegateOptionsDefault()
            xnnpackOptions.num_threads = Int32((threads ?? 1) > 1 ? threads! : 0)
            guard let created = TfLiteXNNPackDelegateCreate(&xnnpackOptions) else {
                TfLiteInterpreterOptionsDelete(options)
                TfLiteModelDelete(model)
                throw JobFailure.failed("LiteRT could not create the XNNPACK delegate")
            }
            delegate = created
            releaseDelegate = { TfLiteXNNPackDelegateDelete(created) }
            createdName = "xnnpack"
        case "coreml":
            var coreMLOptions = TfLiteCoreMlDelegateOptions()
            // Neural Engine phones only (A12 and later): elsewhere the delegate is not created.
            coreMLOptions.enabled_devices = TfLiteCoreMlDelegateDevicesWithNeuralEngine
            coreMLOptions.min_nodes_per_partition = 2
            guard let created = TfLiteCoreMlDelegateCreate(&coreMLOptions) else {
                TfLiteInterpreterOptionsDelete(options)
                TfLiteModelDelete(model)
                throw JobFailure.unsupported(
                    "the LiteRT Core ML delegate needs a Neural Engine (A12 or later); this phone has none")
            }
            delegate = created
            releaseDelegate = { TfLiteCoreMlDelegateDelete(created) }
            createdName = "coreml"
        case "metal":
            var gpuOptions = TFLGpuDelegateOptions()
            gpuOptions.allow_precision_loss = precisionLossAllowed
            gpuOptions.wait_type = TFLGpuDelegateWaitTypePassive
            gpuOptions.enable_quantization = true
            guard let created = TFLGpuDelegateCreate(&gpuOptions) else {
                TfLiteInterpreterOptionsDelete(options)
                TfLiteModelDelete(model)
                throw JobFailure.unsupported("the LiteRT Metal delegate could not be created on this phone")
            }
            delegate = created
            releaseDelegate = { TFLGpuDelegateDelete(created) }
            createdName = "metal"
        default:
            TfLiteInterpreterOptionsDelete(options)
            TfLiteModelDelete(model)
            throw JobFailure.failed("delegate \(delegateName) is not one of cpu, coreml, metal")
        }
        let probe = DelegateProbe(wrapping: delegate)
        TfLiteInterpreterOptionsAddDelegate(options, probe.wrapper)

        guard let interpreter = TfLiteInterpreterCreate(model, options) else {
            releaseDelegate()
            TfLiteInterpreterOptionsDelete(options)
            TfLiteModelDelete(model)
            throw JobFailure.failed("LiteRT could not create the interpreter: \(log.text)")
        }
        guard TfLiteInterpreterAllocateTensors(interpreter) == kTfLiteOk else {
            TfLiteInterpreterDelete(interpreter)
            releaseDelegate()
            TfLiteInterpreterOptionsDelete(options)
            TfLiteModelDelete(model)
            throw JobFailure.failed("LiteRT could not allocate tensors: \(log.text)")
        }
        let loadUs = microseconds(since: start)

        var names: [String] = []
        for index in 0..<TfLiteInterpreterGetInputTensorCount(interpreter) {
            var name = "input\(index)"
            if let tensor = TfLiteInterpreterGetInputTensor(interpreter, index),
                let cName = TfLiteTensorName(tensor)
            {
                name = String(cString: cName)
            }
            names.append(name)
        }

        self.model = model
        self.options = options
        self.interpreter = interpreter
        self.probe = probe
        self.litertDelegate = createdName
        self.releaseDelegate = releaseDelegate
        self.log = log
        self.loadUs = loadUs
        self.inputNames = names
        self.runtimeVersion = String(cString: TfLiteVersion())
    }

    deinit {
        close()
    }

    private var closed = false

    func close() {
        guard !closed else { return }
        closed = true
        // The interpreter uses the delegate (through the probe's wrapper, freed with the probe
        // after this), the delegate the options: free in that order.
        TfLiteInterpreterDelete(interpreter)
        releaseDelegate()
        TfLiteInterpreterOptionsDelete(options)
        TfLiteModelDelete(model)
    }

    // Tensors are typed pointers (common.h defines TfLiteTensor), as in TensorFlowLiteSwift.
    private func inputTensor(_ index: Int) throws -> UnsafeMutablePointer<TfLiteTensor> {
        guard let tensor = TfLiteInterpreterGetInputTensor(interpreter, Int32(index)) else {
            throw JobFailure.failed("LiteRT has no input tensor \(index)")
        }
        return tensor
    }

    /// A tensor's shape. TfLiteTensorNumDims is -1 for a tensor without dimensions set (c_api.h),
    /// and a range up to -1 traps.
    private func dims(_ tensor: UnsafePointer<TfLiteTensor>) throws -> [Int] {
        let count = TfLiteTensorNumDims(tensor)
        guard count >= 0 else {
            let name = TfLiteTensorName(tensor).map { String(cString: $0) } ?? "a tensor"
            throw JobFailure.failed("LiteRT gives no shape for \(name) (its dimensions are not set)")
        }
        return (0..<count).map { Int(TfLiteTensorDim(tensor, $0)) }
    }

    /// Runs one LiteRT call and throws "`what`: LiteRT's messages" when it fails; the log is
    /// cleared first, so the messages are this call's, not an earlier one's.
    private func check(_ what: String, _ call: () -> TfLiteStatus) throws {
        log.clear()
        guard call() == kTfLiteOk else {
            throw JobFailure.failed("\(what): \(log.text)")
        }
    }

    /// Real-valued inputs (pseudo-random values when a job has none): float32 ones, and int8/uint8
    /// ones with a scale, which setInputs quantizes; the others get zeros of their own type.
    func inputSpecs() throws -> [InputSpec] {
        try inputNames.enumerated().map { index, name -> InputSpec in
            let tensor = try inputTensor(index)
            let type = TfLiteTensorType(tensor)
            guard let dtype = liteRTTypeName(type) else {
                throw JobFailure.unsupported(
                    "input \(name) has LiteRT type \(type.rawValue); the runner feeds "
                        + TensorType.sizes.keys.sorted().joined(separator: ", ") + " inputs")
            }
            let quantized = (type == kTfLiteInt8 || type == kTfLiteUInt8)
                && TfLiteTensorQuantizationParams(tensor).scale > 0
            let real = quantized || type == kTfLiteFloat32
            return InputSpec(name: name, shape: try dims(tensor), dtype: dtype, realValued: real)
        }
    }

    /// Each input's sample: a file of the tensor's own type is copied in as it is (the host
    /// quantized it, or it holds ids); a float32 file for an int8/uint8 tensor is quantized here
    /// (version 1 jobs, synthetic inputs). A shape other than the tensor's resizes the input (a
    /// dynamic dimension, which the host checked against the model's shape signature). Every input
    /// is resized first and tensors are allocated once, before anything is copied: allocating can
    /// move every tensor's buffer, so an input copied before another was resized could be lost.
    func setInputs(_ inputs: [InputTensor], sample: Int) throws {
        let indexed = try inputs.map { input -> (index: Int, input: InputTensor) in
            guard let index = inputNames.firstIndex(of: input.name) else {
                throw JobFailure.failed("input \(input.name) is not a model input")
            }
            return (index, input)
        }
        var resized = false
        for (index, input) in indexed {
            let shape = try dims(try inputTensor(index))
            guard shape != input.shape else { continue }
            let newDims = input.shape.map { Int32($0) }
            let what = "input \(input.name) has shape \(shape) in the model, the job gives \(input.shape), "
                + "and LiteRT could not resize it"
            try check(what) {
                TfLiteInterpreterResizeInputTensor(interpreter, Int32(index), newDims, Int32(newDims.count))
            }
            resized = true
        }
        if resized {
            try check("LiteRT could not allocate tensors for the resized inputs") {
                TfLiteInterpreterAllocateTensors(interpreter)
            }
        }
        for (index, input) in indexed {
            try copy(input, sample: sample, into: try inputTensor(index))
        }
    }

    /// Copies sample `sample` of `input` into its tensor, in the tensor's type (see setInputs).
    private func copy(_ input: InputTensor, sample: Int, into tensor: UnsafeMutablePointer<TfLiteTensor>) throws {
        let type = TfLiteTensorType(tensor)
        let bytes: [UInt8]?
        if liteRTTypeName(type) == input.dtype {
            bytes = nil
        } else if input.dtype == "float32", type == kTfLiteInt8 {
            let params = TfLiteTensorQuantizationParams(tensor)
            bytes = try input.elements(sample: sample, as: Float.self).map { value -> UInt8 in
                let level = try quantize(value, scale: params.scale, zeroPoint: params.zero_point, in: -128...127)
                return UInt8(bitPattern: Int8(level))
            }
        } else if input.dtype == "float32", type == kTfLiteUInt8 {
            let params = TfLiteTensorQuantizationParams(tensor)
            bytes = try input.elements(sample: sample, as: Float.self).map { value -> UInt8 in
                UInt8(try quantize(value, scale: params.scale, zeroPoint: params.zero_point, in: 0...255))
            }
        } else {
            throw JobFailure.failed(
                "input \(input.name) is \(liteRTTypeName(type) ?? "LiteRT type \(type.rawValue)") in the model, "
                    + "the job gives \(input.dtype)")
        }
        try check("LiteRT refused input \(input.name)") {
            guard let bytes = bytes else {
                return input.withSampleBytes(sample) { TfLiteTensorCopyFromBuffer(tensor, $0.baseAddress, $0.count) }
            }
            return bytes.withUnsafeBytes { TfLiteTensorCopyFromBuffer(tensor, $0.baseAddress, $0.count) }
        }
    }

    func predict() throws {
        try check("LiteRT inference failed") { TfLiteInterpreterInvoke(interpreter) }
    }

    /// Every output in its tensor's own type, bytes as LiteRT holds them: quantized outputs as
    /// their integer values (the host dequantizes them with the scale and zero point it reads).
    func readOutputs() throws -> [OutputTensor] {
        var outputs: [OutputTensor] = []
        for index in 0..<TfLiteInterpreterGetOutputTensorCount(interpreter) {
            guard let tensor = TfLiteInterpreterGetOutputTensor(interpreter, index) else {
                throw JobFailure.failed("LiteRT has no output tensor \(index)")
            }
            var name = "output\(index)"
            if let cName = TfLiteTensorName(tensor) {
                name = String(cString: cName)
            }
            let type = TfLiteTensorType(tensor)
            guard let dtype = liteRTTypeName(type) else {
                throw JobFailure.unsupported(
                    "output \(name) has LiteRT type \(type.rawValue); the runner reads "
                        + TensorType.sizes.keys.sorted().joined(separator: ", ") + " outputs")
            }
            var data = Data(count: TfLiteTensorByteSize(tensor))
            try check("LiteRT could not copy output \(name)") {
                data.withUnsafeMutableBytes { TfLiteTensorCopyToBuffer(tensor, $0.baseAddress, $0.count) }
            }
            outputs.append(OutputTensor(name: name, shape: try dims(tensor), dtype: dtype, data: data))
        }
        return outputs
    }
}

/// A LiteRT tensor type as protocol.py's TENSOR_DTYPES names it; nil for a type tensor files cannot hold.
private func liteRTTypeName(_ type: TfLiteType) -> String? {
    switch type {
    case kTfLiteFloat32: return "float32"
    case kTfLiteFloat16: return "float16"
    case kTfLiteInt8: return "int8"
    case kTfLiteUInt8: return "uint8"
    case kTfLiteInt16: return "int16"
    case kTfLiteInt32: return "int32"
    case kTfLiteInt64: return "int64"
    case kTfLiteBool: return "bool"
    default: return nil
    }
}

/// `value` quantized with `scale` and `zeroPoint`, rounded and clamped to `range`.
private func quantize(_ value: Float, scale: Float, zeroPoint: Int32, in range: ClosedRange<Int>) throws -> Int {
    guard scale > 0 else {
        throw JobFailure.unsupported("a quantized input has no scale; cannot feed float values to it")
    }
    let scaled = (value / scale).rounded() + Float(zeroPoint)
    guard scaled.isFinite else { return Int(zeroPoint) }
    return Int(min(max(scaled, Float(range.lowerBound)), Float(range.upperBound)))
}

func makeLiteRTEngine(modelURL: URL, job: RunnerJob) throws -> InferenceEngine {
    try LiteRTEngine(
        modelURL: modelURL, delegate: job.delegate ?? "cpu", threads: job.threads,
        precisionLossAllowed: job.gpuPrecisionLossAllowed)
}

#else

func makeLiteRTEngine(modelURL: URL, job: RunnerJob) throws -> InferenceEngine {
    throw JobFailure.unsupported(
        "this runner app was built without LiteRT (add the TensorFlowLiteC package, see README.md)")
}

#endif
