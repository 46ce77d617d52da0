package dev.mobiledistill.demo

import android.os.Bundle
import android.view.WindowManager
import android.widget.ArrayAdapter
import android.widget.Button
import android.widget.EditText
import android.widget.ProgressBar
import android.widget.Spinner
import android.widget.TextView
import androidx.activity.ComponentActivity
import androidx.activity.enableEdgeToEdge
import androidx.lifecycle.lifecycleScope
import dev.mobiledistill.core.Benchmark
import dev.mobiledistill.core.BenchmarkResult
import dev.mobiledistill.core.BundleIndex
import dev.mobiledistill.core.ResultsWriter
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import java.io.File
import java.io.IOException
import java.time.Instant
import java.time.ZoneOffset
import java.time.format.DateTimeFormatter
import java.util.Locale

/**
 * Benchmark one artifact or all: the core's Benchmark.run does the loading, timing and
 * predictions; this screen passes the settings, shows progress and writes the core's results JSON
 * to getExternalFilesDir(null)/results-<timestamp>.json for `adb pull`.
 */
class BenchmarkActivity : ComponentActivity() {

    private var bundle: AssetBundle? = null

    /** Set when the screen goes away: the running benchmark stops at its next progress report. */
    @Volatile
    private var stopped = false

    private lateinit var spinner: Spinner
    private lateinit var runsInput: EditText
    private lateinit var warmupInput: EditText
    private lateinit var threadsInput: EditText
    private lateinit var button: Button
    private lateinit var progressBar: ProgressBar
    private lateinit var progressText: TextView
    private lateinit var result: TextView

    override fun onCreate(savedInstanceState: Bundle?) {
        enableEdgeToEdge()
        super.onCreate(savedInstanceState)
        setContentView(R.layout.activity_benchmark)
        applySystemInsets(findViewById(R.id.root))
        spinner = findViewById(R.id.artifact_spinner)
        runsInput = findViewById(R.id.runs_input)
        warmupInput = findViewById(R.id.warmup_input)
        threadsInput = findViewById(R.id.threads_input)
        button = findViewById(R.id.run_button)
        progressBar = findViewById(R.id.progress_bar)
        progressText = findViewById(R.id.progress_text)
        result = findViewById(R.id.result_text)

        val bundle = try {
            AssetBundle.get(assets)
        } catch (e: Exception) {
            result.text = describe(e)
            button.isEnabled = false
            return
        }
        this.bundle = bundle
        val choices = listOf(getString(R.string.benchmark_all, bundle.runnable.size)) + bundle.runnable.map { it.name() }
        spinner.adapter = ArrayAdapter(this, android.R.layout.simple_spinner_item, choices)
            .apply { setDropDownViewResource(android.R.layout.simple_spinner_dropdown_item) }
        button.isEnabled = bundle.runnable.isNotEmpty()
        button.setOnClickListener { start() }
    }

    private fun start() {
        val bundle = bundle ?: return
        val runs = runsInput.text.toString().toIntOrNull()
        val warmup = warmupInput.text.toString().toIntOrNull()
        val threads = threadsInput.text.toString().toIntOrNull()
        if (runs == null || runs < 1 || warmup == null || warmup < 0 || threads == null || threads < 1) {
            result.text = getString(R.string.benchmark_bad_settings)
            return
        }
        val position = spinner.selectedItemPosition
        val artifacts = if (position <= 0) bundle.runnable else listOf(bundle.runnable[position - 1])

        button.isEnabled = false
        result.text = ""
        progressBar.progress = 0
        window.addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
        lifecycleScope.launch {
            val report = try {
                withContext(Inference.dispatcher) { benchmark(bundle, artifacts, runs, warmup, threads) }
            } catch (e: CancellationException) {
                throw e
            } catch (e: Throwable) {
                describe(e)
            }
            window.clearFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON)
            progressText.text = getString(R.string.benchmark_done)
            result.text = report
            button.isEnabled = true
        }
    }

    /**
     * On the inference thread. An artifact that fails (a model file that is not bundle.json's, a
     * ContractException from binding its inputs) is reported, recorded in the results file as
     * contract-failed or not-run, and the others still run.
     */
    private fun benchmark(bundle: AssetBundle, artifacts: List<BundleIndex.Artifact>, runs: Int, warmup: Int,
                          threads: Int): String {
        val sample = bundle.sample
        val results = ArrayList<BenchmarkResult>()
        val failures = ArrayList<String>()
        for ((i, artifact) in artifacts.withIndex()) {
            val title = "${artifact.name()} (${i + 1}/${artifacts.size})"
            show(title, getString(R.string.benchmark_checking), 0, 1)
            var sha256: String? = null
            try {
                sha256 = bundle.verifiedModelSha256(artifact)
                val run = Benchmark.run(
                    { bundle.openRunner(artifact, threads) },
                    bundle.manifest(artifact),
                    bundle.tokenizer(artifact),
                    sample,
                    artifact,
                    runs,
                    warmup,
                ) { phase, done, total ->
                    if (stopped) throw CancellationException("benchmark screen closed")
                    show(title, phase, done, total)
                }
                results.add(run.withModelSha256(sha256))
            } catch (e: CancellationException) {
                throw e
            } catch (e: Exception) {
                val failed = BenchmarkResult.failed(artifact, e)
                results.add(if (sha256 != null) failed.withModelSha256(sha256) else failed)
                failures.add("${artifact.name()}: ${describe(e)}")
            }
        }
        return buildString {
            if (results.isNotEmpty()) {
                val file = writeResults(ResultsWriter.toJson(Device.info(), sample, results, Device.appVersion))
                appendLine(getString(R.string.benchmark_written, file.absolutePath))
                appendLine(getString(R.string.benchmark_device, Device.label(), sample.rows(), runs, warmup, threads))
                for (run in results.filter { it.ran() }) {
                    val latency = run.latency()
                    appendLine(String.format(Locale.ROOT, getString(R.string.benchmark_line), run.artifact().name(),
                        run.accuracy(), run.agreementReference(), latency.p50(), latency.p90(), run.loadSeconds(),
                        run.runtime().name(), run.runtime().version()))
                }
            }
            if (failures.isNotEmpty()) {
                appendLine(getString(R.string.benchmark_failed, failures.size))
                failures.forEach { appendLine(it) }
            }
        }.trimEnd()
    }

    /** Progress from the inference thread, drawn on the main thread. */
    private fun show(title: String, phase: String, done: Int, total: Int) {
        progressBar.post {
            progressBar.max = maxOf(total, 1)
            progressBar.progress = done
            progressText.text = getString(R.string.benchmark_progress, title, phase, done, total)
        }
    }

    /**
     * getExternalFilesDir(null)/results-<UTC timestamp>.json, written to a temporary file first
     * and renamed, so a pulled file is never half written.
     */
    private fun writeResults(json: String): File {
        val folder = getExternalFilesDir(null) ?: filesDir
        val stamp = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss", Locale.ROOT).withZone(ZoneOffset.UTC)
            .format(Instant.now())
        val file = File(folder, "results-$stamp.json")
        val temp = File(folder, ".${file.name}.tmp")
        temp.writeText(json, Charsets.UTF_8)
        if (!temp.renameTo(file)) {
            temp.delete()
            throw IOException("could not rename ${temp.absolutePath} to ${file.name}")
        }
        return file
    }

    override fun onDestroy() {
        stopped = true
        super.onDestroy()
    }
}
