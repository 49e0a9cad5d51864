// The job, result and status files shared with benchlab.
//
// Mirrors ios_runner/protocol.py, whose module docstring is the one definition of these formats
// and of the folder contract. Keep the CodingKeys here equal to the Python field names:
// tests/ios/test_protocol.py parses this file and fails when they differ.

import Foundation

/// Version of the result and status formats this app writes (SCHEMA_VERSION in protocol.py).
let protocolSchemaVersion = 2
/// Job versions this app reads: version 1 jobs are version 2 jobs whose inputs are all float32.
let jobSchemaVersions = [1, 2]

enum Folder {
    static let inbox = "inbox"
    static let running = "running"
    static let outbox = "outbox"
    static let done = "done"
    static let statusFile = "runner_status.json"
    static let partialSuffix = ".part"
}

/// The values a job's settings may take (FORMATS, COMPUTE_UNITS, TFLITE_DELEGATES in protocol.py).
enum Allowed {
    static let formats = ["mlpackage", "tflite"]
    static let computeUnits = ["cpuOnly", "cpuAndGPU", "cpuAndNeuralEngine", "all"]
    static let delegates = ["cpu", "coreml", "metal"]
}

/// Element types of tensor files and their sizes in bytes (TENSOR_DTYPES in protocol.py).
enum TensorType {
    static let sizes: [String: Int] = [
        "float32": 4, "float16": 2, "int8": 1, "uint8": 1, "int16": 2, "int32": 4, "int64": 8, "bool": 1,
    ]
}

/// A raw little-endian file: `samples` tensors of `shape` (`[]`: a scalar) and `dtype`, back to back.
struct TensorFile: Codable, Equatable {
    var name: String
    var file: String
    var shape: [Int]
    var samples: Int
    /// A TensorType name; absent in version 1 files, which are float32.
    var dtype: String?

    enum CodingKeys: String, CodingKey {
        case name
        case file
        case shape
        case samples
        case dtype
    }

    var elementsPerSample: Int { shape.reduce(1, *) }
    var elementType: String { dtype ?? "float32" }
}

struct RunnerJob: Codable {
    var schemaVersion: Int
    var jobId: String
    var model: String
    var format: String
    var computeUnits: String?
    var delegate: String?
    var threads: Int?
    var gpuPrecisionLossAllowed: Bool
    var warmup: Int
    var iterations: Int
    var inputs: [TensorFile]

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case jobId = "job_id"
        case model
        case format
        case computeUnits = "compute_units"
        case delegate
        case threads
        case gpuPrecisionLossAllowed = "gpu_precision_loss_allowed"
        case warmup
        case iterations
        case inputs
    }
}

/// Where Core ML plans to run one ML program operation (MLComputePlan.DeviceUsage, iOS 17.4+).
struct OpPlacement: Codable {
    var op: String
    var device: String
    var supported: [String]

    enum CodingKeys: String, CodingKey {
        case op
        case device
        case supported
    }
}

struct RunnerResult: Codable {
    var schemaVersion: Int
    var jobId: String
    var status: String
    var error: String?
    var appVersion: String
    var osVersion: String
    var osBuild: String?
    var deviceModel: String
    var format: String?
    var computeUnits: String?
    var delegate: String?
    var threads: Int?
    var runtimeVersion: String?
    var litertDelegate: String?
    var delegatedNodes: Int?
    var totalNodes: Int?
    var opPlacement: [OpPlacement]?
    var opPlacementNote: String?
    var compileUs: Double?
    var loadUs: Double?
    var firstPredictionUs: Double?
    var warmupUs: [Double]
    var iterationsUs: [Double]
    var outputs: [TensorFile]
    var thermalStateBefore: Int
    var thermalStateAfter: Int
    var lowPowerModeBefore: Bool?
    var lowPowerModeAfter: Bool?
    var memoryBeforeBytes: Int64?
    var memoryAfterLoadBytes: Int64?
    var memoryAfterBytes: Int64?
    var memoryPeakBytes: Int64?
    /// What the app changed to write the result (numbers that were not finite); nil when nothing.
    var note: String?
    var startedAt: Date
    var finishedAt: Date

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case jobId = "job_id"
        case status
        case error
        case appVersion = "app_version"
        case osVersion = "os_version"
        case osBuild = "os_build"
        case deviceModel = "device_model"
        case format
        case computeUnits = "compute_units"
        case delegate
        case threads
        case runtimeVersion = "runtime_version"
        case litertDelegate = "litert_delegate"
        case delegatedNodes = "delegated_nodes"
        case totalNodes = "total_nodes"
        case opPlacement = "op_placement"
        case opPlacementNote = "op_placement_note"
        case compileUs = "compile_us"
        case loadUs = "load_us"
        case firstPredictionUs = "first_prediction_us"
        case warmupUs = "warmup_us"
        case iterationsUs = "iterations_us"
        case outputs
        case thermalStateBefore = "thermal_state_before"
        case thermalStateAfter = "thermal_state_after"
        case lowPowerModeBefore = "low_power_mode_before"
        case lowPowerModeAfter = "low_power_mode_after"
        case memoryBeforeBytes = "memory_before_bytes"
        case memoryAfterLoadBytes = "memory_after_load_bytes"
        case memoryAfterBytes = "memory_after_bytes"
        case memoryPeakBytes = "memory_peak_bytes"
        case note
        case startedAt = "started_at"
        case finishedAt = "finished_at"
    }

    /// A result with nothing measured yet: status "failed" until the job says otherwise.
    init(jobId: String, facts: DeviceFacts, startedAt: Date, thermalStateBefore: Int, lowPowerModeBefore: Bool) {
        self.schemaVersion = protocolSchemaVersion
        self.jobId = jobId
        self.status = "failed"
        self.error = nil
        self.appVersion = facts.appVersion
        self.osVersion = facts.osVersion
        self.osBuild = facts.osBuild
        self.deviceModel = facts.deviceModel
        self.format = nil
        self.computeUnits = nil
        self.delegate = nil
        self.threads = nil
        self.runtimeVersion = nil
        self.litertDelegate = nil
        self.delegatedNodes = nil
        self.totalNodes = nil
        self.opPlacement = nil
        self.opPlacementNote = nil
        self.compileUs = nil
        self.loadUs = nil
        self.firstPredictionUs = nil
        self.warmupUs = []
        self.iterationsUs = []
        self.outputs = []
        self.thermalStateBefore = thermalStateBefore
        self.thermalStateAfter = thermalStateBefore
        self.lowPowerModeBefore = lowPowerModeBefore
        self.lowPowerModeAfter = lowPowerModeBefore
        self.memoryBeforeBytes = nil
        self.memoryAfterLoadBytes = nil
        self.memoryAfterBytes = nil
        self.memoryPeakBytes = nil
        self.note = nil
        self.startedAt = startedAt
        self.finishedAt = startedAt
    }

    /// This result with the numbers JSON cannot hold (NaN, ±infinity) taken out: a single value
    /// becomes nil (left out of the file, which the host reads as null), a list loses them; `note`
    /// names each. JSONEncoder would throw on them. A timing taken out of an ok result fails it,
    /// naming them: the host cannot use a result without its times.
    func finiteOnly() -> RunnerResult {
        var result = self
        var removed: [String] = []
        let single: [(String, WritableKeyPath<RunnerResult, Double?>)] = [
            ("compile_us", \.compileUs), ("load_us", \.loadUs), ("first_prediction_us", \.firstPredictionUs),
        ]
        for (field, path) in single {
            if let value = result[keyPath: path], !value.isFinite {
                result[keyPath: path] = nil
                removed.append("\(field) (\(value))")
            }
        }
        let lists: [(String, WritableKeyPath<RunnerResult, [Double]>)] = [
            ("warmup_us", \.warmupUs), ("iterations_us", \.iterationsUs),
        ]
        for (field, path) in lists {
            let values = result[keyPath: path]
            let finite = values.filter { $0.isFinite }
            if finite.count != values.count {
                result[keyPath: path] = finite
                removed.append("\(values.count - finite.count) of \(values.count) \(field)")
            }
        }
        guard !removed.isEmpty else { return result }
        let text = "not finite, so left out: " + removed.joined(separator: ", ")
        result.note = text
        if result.status == "ok" {
            result.status = "failed"
            result.error = "the app measured times that are not numbers (\(text))"
        }
        return result
    }
}

struct RunnerStatus: Codable {
    var schemaVersion: Int
    var appVersion: String
    var deviceModel: String
    var osVersion: String
    var osBuild: String?
    var state: String
    var currentJob: String?
    var jobsDone: Int
    var thermalState: Int
    var lowPowerMode: Bool?
    var updatedAt: Date

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
        case appVersion = "app_version"
        case deviceModel = "device_model"
        case osVersion = "os_version"
        case osBuild = "os_build"
        case state
        case currentJob = "current_job"
        case jobsDone = "jobs_done"
        case thermalState = "thermal_state"
        case lowPowerMode = "low_power_mode"
        case updatedAt = "updated_at"
    }
}

/// Reads only the version of a job file, before decoding the rest.
struct SchemaVersionProbe: Decodable {
    var schemaVersion: Int?

    enum CodingKeys: String, CodingKey {
        case schemaVersion = "schema_version"
    }
}

enum ProtocolJSON {
    /// The encoder for every file the app writes (see "Result" in protocol.py).
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
