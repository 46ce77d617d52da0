package dev.mobiledistill.demo

import android.os.Bundle
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.EditText
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.enableEdgeToEdge
import androidx.lifecycle.lifecycleScope
import dev.mobiledistill.core.BundleIndex
import dev.mobiledistill.core.InputBinder
import dev.mobiledistill.core.Metrics
import dev.mobiledistill.core.ModelRunner
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.util.Locale

/**
 * Classify one text with one artifact: the label the core's argmax picks, its softmax score, and
 * the latency of that one inference (tokenizing excluded). The loaded model is kept while the
 * same artifact stays selected.
 */
class ClassifyActivity : ComponentActivity() {

    /** A model loaded in its runtime, its inputs bound to the manifest by name. */
    private class Loaded(val artifact: String, val runner: ModelRunner, val binder: InputBinder, val sha256: String)

    private var bundle: AssetBundle? = null

    // Touched only on the inference thread.
    private var loaded: Loaded? = null

    private lateinit var spinner: Spinner
    private lateinit var input: EditText
    private lateinit var button: Button
    private lateinit var result: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_classify)
        applySystemInsets(findViewById(R.id.root))
        spinner = findViewById(R.id.artifact_spinner)
        input = findViewById(R.id.input_text)
        button = findViewById(R.id.classify_button)
        result = findViewById(R.id.result_text)

        val bundle = try {
            AssetBundle.get(assets)
        } catch (e: Exception) {
            result.text = describe(e)
            button.isEnabled = false
            return
        }
        this.bundle = bundle
        spinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_item, bundle.runnable.map { it.name() })
            .apply { setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item) }
        button.isEnabled = bundle.runnable.isNotEmpty()
        button.setOnClickListener { classify() }
    }

    private fun classify() {
        val bundle = bundle ?: return
        val artifact = bundle.runnable.getOrNull(spinner.selectedItemPosition) ?: return
        val text = input.text.toString()
        if (text.isBlank()) {
            result.text = getString(R.string.classify_empty)
            return
        }
        button.isEnabled = false
        result.text = getString(R.string.classify_running, artifact.name())
        lifecycleScope.launch {
            val shown = try {
                withContext(Inference.dispatcher) { classifyOnce(bundle, artifact, text) }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Throwable) {
                describe(e)
            }
            result.text = shown
            button.isEnabled = true
        }
    }

    /** On the inference thread: load (once per artifact), tokenize, bind by name, run, report. */
    private fun classifyOnce(bundle: AssetBundle, artifact: BundleIndex.Artifact, text: String): String {
        val model = load(bundle, artifact)
        val feeds = model.binder.feeds(bundle.tokenizer(artifact).encode(text))
        val start = System.nanoTime()
        val logits = model.runner.run(feeds)
        val millis = (System.nanoTime() - start) / 1e6
        val best = Metrics.argmax(logits)
        val labels = bundle.manifest(artifact).labels()
        return buildString {
            if (best < 0) {
                appendLine(getString(R.string.classify_no_label))
            } else {
                appendLine(getString(R.string.classify_label, labels.getOrElse(best) { "class $best" }))
                appendLine(String.format(Locale.ROOT, getString(R.string.classify_score),
                    Metrics.softmax(logits)[best]))
            }
            appendLine(String.format(Locale.ROOT, getString(R.string.classify_latency), millis,
                model.runner.runtimeName(), model.runner.runtimeVersion(), model.runner.delegate(),
                model.runner.threads()))
            appendLine("logits: " + logits.joinToString(prefix = "[", postfix = "]") {
                String.format(Locale.ROOT, "%.4f", it)
            })
            append("model sha256: ${model.sha256} (matches bundle.json)")
        }
    }

    private fun load(bundle: AssetBundle, artifact: BundleIndex.Artifact): Loaded {
        loaded?.let { if (it.artifact == artifact.name()) return it }
        loaded?.runner?.close()
        loaded = null
        val sha256 = bundle.verifiedModelSha256(artifact)
        val runner = bundle.openRunner(artifact, THREADS)
        try {
            val binder = InputBinder.bind(bundle.manifest(artifact), runner.declaredInputs())
            return Loaded(artifact.name(), runner, binder, sha256).also { loaded = it }
        } catch (e: Throwable) {
            runner.close()
            throw e
        }
    }

    override fun onDestroy() {
        super.onDestroy()
        // Closed on the inference thread, after any run still in flight there.
        Inference.executor.execute {
            loaded?.runner?.close()
            loaded = null
        }
    }

    private companion object {
        const val THREADS = 4
    }
}
