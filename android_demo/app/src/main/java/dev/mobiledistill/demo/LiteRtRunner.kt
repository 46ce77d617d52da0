package dev.mobiledistill.demo

import android.content.res.AssetManager
import dev.mobiledistill.core.ContractException
import dev.mobiledistill.core.InputTensor
import dev.mobiledistill.core.ModelRunner
import dev.mobiledistill.core.TensorSpec
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.Tensor
import java.io.FileInputStream
import java.io.IOException
import java.nio.ByteBuffer
import java.nio.ByteOrder
import java.nio.channels.FileChannel

/**
 * A .tflite model in LiteRT's Interpreter, run through its SignatureDef ("serving_default"): every
 * input is fed by its signature name, never by position (the exported signature lists its inputs
 * alphabetically, not in tensor order). CPU with XNNPACK (the Interpreter's default).
 *
 * declaredInputs() reads the signature's input tensors (name, INT32/INT64); the core's
 * InputBinder compares them with manifest.json before anything runs.
 */
class LiteRtRunner private constructor(
    private val interpreter: Interpreter,
    // The mapped model must outlive the interpreter that reads from it.
    @Suppress("unused") private val model: ByteBuffer,
    private val threadCount: Int,
    private val signature: String,
    private val inputs: List<TensorSpec>,
    private val inputShapes: Map<String, IntArray?>,
    private val output: String,
) : ModelRunner {

    private var closed = false

    override fun declaredInputs(): List<TensorSpec> = inputs

    override fun run(feeds: Map<String, InputTensor>): FloatArray {
        check(!closed) { "LiteRT runner is closed" }
        val unknown = feeds.keys - inputs.map { it.name() }.toSet()
        if (unknown.isNotEmpty()) {
            throw ContractException("feeds ${unknown.sorted()} are not inputs of signature '$signature' " +
                "(it declares ${inputs.map { it.name() }}): re-export or fix manifest.json")
        }
        val arrays = HashMap<String, Any>()
        for (spec in inputs) {
            val name = spec.name()
            val feed = feeds[name] ?: throw ContractException("input $name: declared by the model's signature " +
                "'$signature' but not bound from manifest.json: re-export or fix manifest.json")
            if (feed.dtype != spec.dtype()) {
                throw ContractException("input $name: bound as ${feed.dtype} but the model declares ${spec.dtype()}: " +
                    "re-export or fix manifest.json")
            }
            val expected = inputShapes[name]
            if (expected != null && !expected.contentEquals(feed.shape().map { it.toInt() }.toIntArray())) {
                throw ContractException("input $name: the model's static shape is ${expected.contentToString()} but the " +
                    "tokenizer gives ${feed.shape().contentToString()}: manifest.json's max_length must equal the " +
                    "exported sequence length")
            }
            // Batch 1: one row of the dtype the signature declares.
            arrays[name] = when (spec.dtype()) {
                "int32" -> arrayOf(feed.asInts())
                "int64" -> arrayOf(feed.asLongs())
                else -> throw ContractException("input $name: the model declares ${spec.dtype()}; token inputs must be " +
                    "int32 or int64: re-export the model")
            }
        }
        try {
            // No output map: the logits are read from the output tensor after the run, whatever
            // its length, so a wrong label count reaches the core's check instead of a copy error.
            interpreter.runSignature(arrays, HashMap<String, Any>(), signature)
        } catch (e: IllegalArgumentException) {
            throw ContractException("LiteRT refused the inputs of signature '$signature': ${e.message}")
        }
        val tensor = interpreter.getOutputTensorFromSignature(output, signature)
        if (tensor.dataType() != DataType.FLOAT32) {
            throw ContractException("output $output: the model returns ${dtypeName(tensor.dataType())}, not float32 " +
                "logits: re-export the model")
        }
        val values = tensor.asReadOnlyBuffer().asFloatBuffer()
        return FloatArray(values.remaining()).also { values.get(it) }
    }

    override fun runtimeName(): String = RUNTIME_NAME

    /** The LiteRT release the app was built with (TensorFlowLite.runtimeVersion() names TensorFlow's). */
    override fun runtimeVersion(): String = BuildConfig.LITERT_VERSION

    override fun delegate(): String = "cpu"

    override fun threads(): Int = threadCount

    override fun close() {
        if (!closed) {
            closed = true
            interpreter.close()
        }
    }

    companion object {
        const val RUNTIME_NAME = "LiteRT"
        const val SIGNATURE = "serving_default"

        /**
         * Maps the model from the APK (stored uncompressed, see androidResources.noCompress) and
         * builds the interpreter. [preferredOutput] (manifest.json's output name) picks the logits
         * when the signature has more than one output.
         */
        fun open(assets: AssetManager, path: String, threads: Int, preferredOutput: String?): LiteRtRunner {
            val model = loadModel(assets, path)
            val options = Interpreter.Options()
            options.setNumThreads(threads)
            options.setUseXNNPACK(true)
            val interpreter = Interpreter(model, options)
            try {
                return describe(interpreter, model, threads, preferredOutput, path)
            } catch (e: Throwable) {
                interpreter.close()
                throw e
            }
        }

        private fun describe(interpreter: Interpreter, model: ByteBuffer, threads: Int, preferredOutput: String?,
                             path: String): LiteRtRunner {
            // The export writes one signature, "serving_default" (the name the Python runner uses).
            val keys = interpreter.getSignatureKeys()
            val signature = when {
                keys.size == 1 -> keys[0]
                SIGNATURE in keys -> SIGNATURE
                else -> throw ContractException("$path has signatures ${keys.contentToString()}; the app binds " +
                    "inputs by name through one signature ('$SIGNATURE'): re-export the model")
            }
            val specs = ArrayList<TensorSpec>()
            val shapes = HashMap<String, IntArray?>()
            for (name in interpreter.getSignatureInputs(signature)) {
                val tensor = interpreter.getInputTensorFromSignature(name, signature)
                specs.add(TensorSpec(name, dtypeName(tensor.dataType())))
                shapes[name] = staticShape(tensor)
            }
            val outputs = interpreter.getSignatureOutputs(signature)
            val output = when {
                outputs.size == 1 -> outputs[0]
                preferredOutput != null && preferredOutput in outputs -> preferredOutput
                else -> throw ContractException("$path: signature '$signature' has outputs ${outputs.contentToString()} " +
                    "and none is manifest.json's output '$preferredOutput': re-export or fix manifest.json")
            }
            return LiteRtRunner(interpreter, model, threads, signature, specs, shapes, output)
        }

        /** The input's shape when the model fixes it (no -1 dimension), else null (resized per run). */
        private fun staticShape(tensor: Tensor): IntArray? {
            val signatureShape = tensor.shapeSignature()
            return if (signatureShape.any { it < 0 }) null else tensor.shape()
        }

        /** LiteRT's DataType as the manifest writes dtypes: INT32 -> "int32", INT64 -> "int64". */
        fun dtypeName(type: DataType): String = when (type) {
            DataType.INT32 -> "int32"
            DataType.INT64 -> "int64"
            DataType.FLOAT32 -> "float32"
            else -> type.name.lowercase()
        }

        /** A MappedByteBuffer over the APK entry; a direct copy if the entry was compressed after all. */
        private fun loadModel(assets: AssetManager, path: String): ByteBuffer = try {
            assets.openFd(path).use { fd ->
                FileInputStream(fd.fileDescriptor).use { stream ->
                    stream.channel.map(FileChannel.MapMode.READ_ONLY, fd.startOffset, fd.declaredLength)
                }
            }
        } catch (e: IOException) {
            val bytes = assets.open(path).use { it.readBytes() }
            ByteBuffer.allocateDirect(bytes.size).order(ByteOrder.nativeOrder()).apply {
                put(bytes)
                rewind()
            }
        }
    }
}
