package dev.mobiledistill.demo

import android.os.Build
import dev.mobiledistill.core.DeviceInfo

/** The phone the results come from, as the results JSON names it. */
object Device {
    val appVersion: String = "mobile-distill android_demo ${BuildConfig.VERSION_NAME}"

    fun info(): DeviceInfo {
        val extra = LinkedHashMap<String, String>()
        if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.S) {
            extra["soc_model"] = Build.SOC_MODEL
            extra["soc_manufacturer"] = Build.SOC_MANUFACTURER
        }
        extra["hardware"] = Build.HARDWARE
        extra["device"] = Build.DEVICE
        return DeviceInfo(
            "android",
            Build.MODEL,
            Build.MANUFACTURER,
            "Android ${Build.VERSION.RELEASE} (SDK ${Build.VERSION.SDK_INT})",
            Build.SUPPORTED_ABIS.firstOrNull() ?: "unknown",
            Runtime.getRuntime().availableProcessors(),
            extra,
        )
    }

    /** "Google Pixel 7 (Android 14)": how the desktop report names this device. */
    fun label(): String = "${Build.MANUFACTURER} ${Build.MODEL} (Android ${Build.VERSION.RELEASE})"
}
