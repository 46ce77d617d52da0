package dev.mobiledistill.demo

import android.content.res.AssetManager
import dev.mobiledistill.core.BertTokenizer
import dev.mobiledistill.core.BundleIndex
import dev.mobiledistill.core.Hashing
import dev.mobiledistill.core.Manifest
import dev.mobiledistill.core.ModelRunner
import dev.mobiledistill.core.TestSample
import dev.mobiledistill.core.Vocab
import java.io.FileNotFoundException
import java.io.InputStream
import java.util.concurrent.ConcurrentHashMap

/** Something wrong with what the app was given: no bundle, or a model file that is not the one named. */
class AppException(message: String) : RuntimeException(message)

/**
 * The bundle `mobile-distill app-bundle` writes into app/src/main/assets: bundle.json, the test
 * sample and one folder per artifact (manifest.json, vocab.txt, the model). Every file is read by
 * the core's readers; this class only finds the files in the APK.
 */
class AssetBundle private constructor(private val assets: AssetManager, val index: BundleIndex) {

    /** Artifacts whose runtime the app carries (LiteRT, ONNX Runtime), in bundle.json's order. */
    val runnable: List<BundleIndex.Artifact> = index.artifacts().filter { it.target() in TARGETS }

    /** Artifacts for other runtimes (ExecuTorch, Core ML): listed, never run. */
    val skipped: List<BundleIndex.Artifact> = index.artifacts().filter { it.target() !in TARGETS }

    val sample: TestSample by lazy {
        val name = index.sampleFile()
        read(name) { stream, source -> TestSample.read(stream, source) }
    }

    private val manifests = ConcurrentHashMap<String, Manifest>()
    private val tokenizers = ConcurrentHashMap<String, BertTokenizer>()

    fun manifest(artifact: BundleIndex.Artifact): Manifest = manifests.getOrPut(artifact.name()) {
        read("${artifact.folder()}/manifest.json") { stream, source -> Manifest.read(stream, source) }
    }

    /** The artifact's WordPiece tokenizer: its folder's vocab.txt with manifest.json's settings. */
    fun tokenizer(artifact: BundleIndex.Artifact): BertTokenizer = tokenizers.getOrPut(artifact.name()) {
        val vocab = read("${artifact.folder()}/vocab.txt") { stream, source -> Vocab.read(stream, source) }
        BertTokenizer(vocab, manifest(artifact).tokenizer())
    }

    fun modelPath(artifact: BundleIndex.Artifact): String = "${artifact.folder()}/${artifact.modelFile()}"

    /**
     * The sha256 of the model file the app will load, checked against bundle.json's model_sha256:
     * a different file (a stale install, a rebuilt artifact) stops the run instead of being
     * reported under the wrong name.
     */
    fun verifiedModelSha256(artifact: BundleIndex.Artifact): String {
        val path = modelPath(artifact)
        val actual = try {
            assets.open(path).use { Hashing.sha256Hex(it) }
        } catch (e: FileNotFoundException) {
            throw AppException("$path is not in the app's assets: run mobile-distill app-bundle again and reinstall")
        }
        val expected = artifact.modelSha256()
        if (!actual.equals(expected, ignoreCase = true)) {
            throw AppException("$path has sha256 $actual but bundle.json says $expected: the APK holds another " +
                "model file; run mobile-distill app-bundle again and reinstall")
        }
        return actual
    }

    /** Loads the artifact in its runtime; the core times this call as load_seconds. */
    fun openRunner(artifact: BundleIndex.Artifact, threads: Int): ModelRunner {
        val output = manifest(artifact).outputName()
        return when (artifact.target()) {
            "tflite" -> LiteRtRunner.open(assets, modelPath(artifact), threads, output)
            "onnx" -> OrtRunner.open(assets, modelPath(artifact), threads, output)
            else -> throw AppException("${artifact.name()}: target ${artifact.target()} has no runtime in this app")
        }
    }

    private fun <T> read(path: String, reader: (InputStream, String) -> T): T = try {
        assets.open(path).use { reader(it, path) }
    } catch (e: FileNotFoundException) {
        throw AppException("$path is not in the app's assets: run mobile-distill app-bundle again and reinstall")
    }

    companion object {
        const val INDEX = "bundle.json"
        private val TARGETS = setOf("tflite", "onnx")

        @Volatile
        private var loaded: AssetBundle? = null

        /** The bundle in the APK, read once per process; AppException when there is none. */
        fun get(assets: AssetManager): AssetBundle = loaded ?: synchronized(this) {
            loaded ?: run {
                val index = try {
                    assets.open(INDEX).use { BundleIndex.read(it, INDEX) }
                } catch (e: FileNotFoundException) {
                    throw AppException("no $INDEX in the app's assets: fill android_demo/app/src/main/assets with " +
                        "`mobile-distill app-bundle ... -o android_demo/app/src/main/assets`, then rebuild")
                }
                AssetBundle(assets, index).also { loaded = it }
            }
        }
    }
}
