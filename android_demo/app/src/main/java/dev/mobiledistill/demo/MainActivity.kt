package dev.mobiledistill.demo

import android.content.Intent
import android.os.Bundle
import android.widget.Button
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.enableEdgeToEdge
import java.util.Locale

/** Start screen: what the bundle in the APK holds, and the way to the two screens. */
class MainActivity : ComponentActivity() {

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_main)
        applySystemInsets(findViewById(R.id.root))

        val status = findViewById<TextView>(R.id.bundle_status)
        val classify = findViewById<Button>(R.id.open_classify)
        val benchmark = findViewById<Button>(R.id.open_benchmark)
        classify.setOnClickListener { startActivity(Intent(this, ClassifyActivity::class.java)) }
        benchmark.setOnClickListener { startActivity(Intent(this, BenchmarkActivity::class.java)) }

        try {
            val bundle = AssetBundle.get(assets)
            status.text = summary(bundle)
            val usable = bundle.runnable.isNotEmpty()
            classify.isEnabled = usable
            benchmark.isEnabled = usable
        } catch (e: Exception) {
            status.text = describe(e)
            classify.isEnabled = false
            benchmark.isEnabled = false
        }
    }

    private fun summary(bundle: AssetBundle): String = buildString {
        appendLine(getString(R.string.bundle_artifacts, bundle.runnable.size))
        for (artifact in bundle.runnable) {
            appendLine(String.format(Locale.ROOT, "• %s  (%s %s, %.1f MB)", artifact.name(), artifact.target(),
                artifact.precision(), artifact.sizeBytes() / 1e6))
        }
        if (bundle.skipped.isNotEmpty()) {
            appendLine(getString(R.string.bundle_skipped, bundle.skipped.joinToString { it.name() }))
        }
        append(getString(R.string.bundle_sample, bundle.index.sampleFile()))
    }
}
