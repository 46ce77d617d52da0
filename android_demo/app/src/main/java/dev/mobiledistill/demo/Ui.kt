package dev.mobiledistill.demo

import android.view.View
import androidx.core.view.ViewCompat
import androidx.core.view.WindowInsetsCompat
import dev.mobiledistill.core.BundleException
import dev.mobiledistill.core.ContractException

/** Pads [root] by the system bars, the display cutout and the keyboard (the app draws edge to edge). */
fun applySystemInsets(root: View) {
    val left = root.paddingLeft
    val top = root.paddingTop
    val right = root.paddingRight
    val bottom = root.paddingBottom
    ViewCompat.setOnApplyWindowInsetsListener(root) { view, insets ->
        val bars = insets.getInsets(
            WindowInsetsCompat.Type.systemBars() or WindowInsetsCompat.Type.displayCutout() or
                WindowInsetsCompat.Type.ime()
        )
        view.setPadding(left + bars.left, top + bars.top, right + bars.right, bottom + bars.bottom)
        insets
    }
}

/**
 * One line for the screen. The core's ContractException (inputs that do not match the manifest)
 * and BundleException (a bad bundle file) and the app's own AppException carry messages written
 * for people, shown as they are; anything else is shown with its type.
 */
fun describe(error: Throwable): String {
    var cause: Throwable? = error
    while (cause != null) {
        when (cause) {
            is ContractException -> return "Input contract: ${cause.message}"
            is BundleException -> return "Bundle: ${cause.message}"
            is AppException -> return cause.message ?: cause.toString()
        }
        cause = cause.cause
    }
    return "${error.javaClass.simpleName}: ${error.message}"
}
