// Top-level build file. AGP 9 compiles Kotlin itself ("built-in Kotlin"): no
// org.jetbrains.kotlin.android plugin is applied anywhere. AGP 9 depends on an older Kotlin
// Gradle plugin (2.2.10); putting the catalog's one on the build classpath raises it, as the AGP
// 9.0 release notes describe ("Runtime dependency on Kotlin Gradle plugin").
buildscript {
    dependencies {
        classpath(libs.kotlin.gradle.plugin)
    }
}

plugins {
    alias(libs.plugins.android.application) apply false
}
