// What the app reports about the phone it runs on: model, OS, its own version, memory, heat.

import Foundation
import Darwin

struct DeviceFacts {
    /// CFBundleShortVersionString and CFBundleVersion, e.g. "1.0 (1)".
    let appVersion: String
    /// e.g. "17.2.1" (the patch number only when it is not 0, as Settings shows it).
    let osVersion: String
    /// kern.osversion, e.g. "21C66".
    let osBuild: String?
    /// utsname machine, the ProductType, e.g. "iPhone16,2".
    let deviceModel: String

    static func current() -> DeviceFacts {
        let info = Bundle.main.infoDictionary ?? [:]
        let short = info["CFBundleShortVersionString"] as? String ?? "?"
        let build = info["CFBundleVersion"] as? String ?? "?"
        let os = ProcessInfo.processInfo.operatingSystemVersion
        var osVersion = "\(os.majorVersion).\(os.minorVersion)"
        if os.patchVersion != 0 {
            osVersion += ".\(os.patchVersion)"
        }
        return DeviceFacts(
            appVersion: "\(short) (\(build))",
            osVersion: osVersion,
            osBuild: sysctlString("kern.osversion"),
            deviceModel: machineName()
        )
    }
}

/// utsname.machine: "iPhone16,2" on a phone, the Mac's architecture in the Simulator.
func machineName() -> String {
    var systemInfo = utsname()
    uname(&systemInfo)
    return withUnsafeBytes(of: &systemInfo.machine) { raw in
        String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
    }
}

func sysctlString(_ name: String) -> String? {
    var size = 0
    guard sysctlbyname(name, nil, &size, nil, 0) == 0, size > 0 else { return nil }
    var buffer = [CChar](repeating: 0, count: size)
    guard sysctlbyname(name, &buffer, &size, nil, 0) == 0 else { return nil }
    return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
}

/// ProcessInfo.thermalState raw value: 0 nominal, 1 fair, 2 serious, 3 critical.
func thermalStateRaw() -> Int {
    ProcessInfo.processInfo.thermalState.rawValue
}

/// ProcessInfo.isLowPowerModeEnabled (iOS 9+): iOS lowers CPU and GPU performance while it is on.
func lowPowerModeEnabled() -> Bool {
    ProcessInfo.processInfo.isLowPowerModeEnabled
}

struct Footprint {
    /// task_vm_info.phys_footprint: the memory iOS counts against the app (what jetsam uses).
    let current: Int64
    /// The largest phys_footprint since the process started.
    let lifetimePeak: Int64

    static func read() -> Footprint? {
        var info = task_vm_info_data_t()
        var count = mach_msg_type_number_t(
            MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<natural_t>.size)
        let status = withUnsafeMutablePointer(to: &info) { pointer in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(count)) { raw in
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), raw, &count)
            }
        }
        guard status == KERN_SUCCESS else { return nil }
        return Footprint(
            current: Int64(info.phys_footprint),
            lifetimePeak: Int64(info.ledger_phys_footprint_peak))
    }
}
