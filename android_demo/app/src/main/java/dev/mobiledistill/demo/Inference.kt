package dev.mobiledistill.demo

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.asCoroutineDispatcher
import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

/**
 * The one thread every model load, inference and benchmark runs on: off the main thread, and
 * never two runs at once (a runner is not shared between threads, and a benchmark measures alone).
 */
object Inference {
    val executor: ExecutorService = Executors.newSingleThreadExecutor { task ->
        Thread(task, "mobile-distill-inference").apply { isDaemon = true }
    }

    val dispatcher: CoroutineDispatcher = executor.asCoroutineDispatcher()
}
