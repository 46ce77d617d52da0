// android_demo: the Android app (:app) and the plain-Java core it runs (:core).
// Versions live in gradle/libs.versions.toml (all but the settings plugin below, which is
// resolved before the catalog exists).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

plugins {
    // The core compiles with a Java 17 toolchain (core/build.gradle.kts). When Gradle itself runs
    // on another JDK (Android Studio's bundled JDK 21, say), this lets Gradle fetch a JDK 17
    // instead of failing. 1.0.0 is the release that works with Gradle 9 (0.x does not).
    id("org.gradle.toolchains.foojay-resolver-convention") version "1.0.0"
}

dependencyResolutionManagement {
    // Repositories are declared here only; a module that declares its own (for a build of its
    // own) gets these instead, with a warning, rather than failing the build.
    repositoriesMode.set(RepositoriesMode.PREFER_SETTINGS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "mobile-distill-android"
include(":app")
include(":core")
