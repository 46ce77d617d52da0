import org.jetbrains.kotlin.gradle.dsl.JvmTarget

// The Android app: reads the bundle written by `mobile-distill app-bundle` from its assets, runs
// each artifact in its own runtime (LiteRT for .tflite, ONNX Runtime for .onnx) and hands every
// number to the plain-Java core (:core). Kotlin is compiled by AGP itself (built-in Kotlin, AGP 9).
plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "dev.mobiledistill.demo"
    compileSdk = 37

    defaultConfig {
        applicationId = "dev.mobiledistill.demo"
        minSdk = 26
        targetSdk = 37
        versionCode = 1
        versionName = "0.1.0"

        // LiteRT's Java API reports the TensorFlow version its runtime was built from, not the
        // LiteRT release; the results name the artifact version the app was built with.
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
        buildConfigField("String", "ONNXRUNTIME_VERSION", "\"${libs.versions.onnxruntime.get()}\"")
    }

    buildFeatures {
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
        // The core is plain Java 17: let D8 supply the newer java.util / java.time APIs it may use
        // on phones older than those APIs.
        isCoreLibraryDesugaringEnabled = true
    }

    androidResources {
        // Models stay uncompressed in the APK so LiteRT can memory-map them from the assets.
        noCompress += listOf("tflite", "onnx")
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_17)
    }
}

dependencies {
    implementation(project(":core"))

    implementation(libs.litert)
    implementation(libs.onnxruntime.android)

    implementation(libs.androidx.core.ktx)
    implementation(libs.androidx.activity.ktx)
    implementation(libs.androidx.lifecycle.runtime.ktx)
    implementation(libs.kotlinx.coroutines.android)

    coreLibraryDesugaring(libs.desugar.jdk.libs)
}
