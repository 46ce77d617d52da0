package dev.mobiledistill.demo

import ai.onnxruntime.OnnxJavaType
import ai.onnxruntime.OnnxTensor
import ai.onnxruntime.OrtEnvironment
import ai.onnxruntime.OrtSession
import ai.onnxruntime.TensorInfo
import android.content.res.AssetManager
import dev.mobiledistill.core.ContractException
import dev.mobiledistill.core.InputTensor
import dev.mobiledistill.core.ModelRunner
import dev.mobiledistill.core.TensorSpec
import java.nio.IntBuffer
import java.nio.LongBuffer

/**
 * An .onnx model in ONNX Runtime (CPU execution provider). declaredInputs() is what the session
 * reports (session.getInputInfo()); run() builds one OnnxTensor per input name, of the element
 * type the model declares, and feeds them by name.
 */
class OrtRunner private constructor(
    private val env: OrtEnvironment,
    private val options: OrtSession.SessionOptions,
    private val session: OrtSession,
    private val threadCount: Int,
    private val inputs: List<TensorSpec>,
    private val output: String,
) : ModelRunner {

    private var closed = false

    override fun declaredInputs(): List<TensorSpec> = inputs

    override fun run(feeds: Map<String, InputTensor>): FloatArray {
        check(!closed) { "ONNX Runtime runner is closed" }
        val unknown = feeds.keys - inputs.map { it.name() }.toSet()
        if (unknown.isNotEmpty()) {
            throw ContractException("feeds ${unknown.sorted()} are not inputs of the model (it declares " +
                "${inputs.map { it.name() }}): re-export or fix manifest.json")
        }
        val tensors = LinkedHashMap<String, OnnxTensor>()
        try {
            for (spec in inputs) {
                val name = spec.name()
                val feed = feeds[name] ?: throw ContractException("input $name: declared by the model but not bound " +
                    "from manifest.json: re-export or fix manifest.json")
                if (feed.dtype != spec.dtype()) {
                    throw ContractException("input $name: bound as ${feed.dtype} but the model declares ${spec.dtype()}: " +
                        "re-export or fix manifest.json")
                }
                tensors[name] = when (spec.dtype()) {
                    "int64" -> OnnxTensor.createTensor(env, LongBuffer.wrap(feed.asLongs()), feed.shape())
                    "int32" -> OnnxTensor.createTensor(env, IntBuffer.wrap(feed.asInts()), feed.shape())
                    else -> throw ContractException("input $name: the model declares ${spec.dtype()}; token inputs " +
                        "must be int32 or int64: re-export the model")
                }
            }
            session.run(tensors).use { result ->
                val value = result.get(output).orElse(null)
                val tensor = value as? OnnxTensor
                    ?: throw ContractException("output $output: the model returned no tensor by that name")
                // A copy of the logits as floats (null when the output is not a floating-point tensor).
                val logits = tensor.floatBuffer
                    ?: throw ContractException("output $output: the model returns ${tensor.info.type}, not float " +
                        "logits: re-export the model")
                return FloatArray(logits.remaining()).also { logits.get(it) }
            }
        } finally {
            tensors.values.forEach { it.close() }
        }
    }

    override fun runtimeName(): String = RUNTIME_NAME

    /** The version string of the native library that was loaded (OrtEnvironment.getVersion()). */
    override fun runtimeVersion(): String = env.version

    override fun delegate(): String = "cpu"

    override fun threads(): Int = threadCount

    override fun close() {
        if (!closed) {
            closed = true
            try {
                session.close()
            } finally {
                options.close()
            }
        }
    }

    companion object {
        const val RUNTIME_NAME = "onnxruntime"

        /**
         * Reads the model from the APK and creates a session with [threads] intra-op threads.
         * [preferredOutput] (manifest.json's output name) picks the logits among several outputs.
         */
        fun open(assets: AssetManager, path: String, threads: Int, preferredOutput: String?): OrtRunner {
            val env = OrtEnvironment.getEnvironment()
            val bytes = assets.open(path).use { it.readBytes() }
            val options = OrtSession.SessionOptions()
            try {
                options.setIntraOpNumThreads(threads)
                val session = env.createSession(bytes, options)
                try {
                    return describe(env, options, session, threads, preferredOutput, path)
                } catch (e: Throwable) {
                    session.close()
                    throw e
                }
            } catch (e: Throwable) {
                options.close()
                throw e
            }
        }

        private fun describe(env: OrtEnvironment, options: OrtSession.SessionOptions, session: OrtSession,
                             threads: Int, preferredOutput: String?, path: String): OrtRunner {
            // getInputInfo() lists the inputs in the model's order.
            val specs = session.inputInfo.map { (name, node) -> TensorSpec(name, dtypeName(node.info)) }
            val outputs = session.outputNames
            val output = when {
                outputs.size == 1 -> outputs.first()
                preferredOutput != null && preferredOutput in outputs -> preferredOutput
                else -> throw ContractException("$path: outputs $outputs and none is manifest.json's output " +
                    "'$preferredOutput': re-export or fix manifest.json")
            }
            return OrtRunner(env, options, session, threads, specs, output)
        }

        /** An input's element type as the manifest writes dtypes: INT64 -> "int64", INT32 -> "int32". */
        private fun dtypeName(info: Any?): String {
            val type = (info as? TensorInfo)?.type ?: return "not-a-tensor"
            return when (type) {
                OnnxJavaType.INT64 -> "int64"
                OnnxJavaType.INT32 -> "int32"
                OnnxJavaType.FLOAT -> "float32"
                OnnxJavaType.DOUBLE -> "float64"
                else -> type.name.lowercase()
            }
        }
    }
}
