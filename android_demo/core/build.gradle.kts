// The plain-Java core of the Android demo: tokenizer, input binding, benchmark, results file.
// No Android dependency, so it builds and tests on any JVM; the app module depends on it.
// src/host/java (the JVM-only process bridge) and its tests in src/hostTest/java are deliberately
// not part of this library: run-tests.sh compiles and tests them for the desktop harness only.
plugins {
    `java-library`
}

java {
    toolchain {
        languageVersion.set(JavaLanguageVersion.of(17))
    }
}

tasks.withType<JavaCompile>().configureEach {
    options.release.set(17)
    options.encoding = "UTF-8"
}

sourceSets {
    main {
        java.setSrcDirs(listOf("src/main/java"))
    }
    test {
        java.setSrcDirs(listOf("src/test/java"))
    }
}

dependencies {
    // api, not implementation: Gson's JsonObject is in the core's public signatures
    // (TestSample.data() and reference()), so modules using the core compile against Gson too.
    api("com.google.code.gson:gson:2.10.1")
    testImplementation(platform("org.junit:junit-bom:5.10.2"))
    testImplementation("org.junit.jupiter:junit-jupiter")
    testRuntimeOnly("org.junit.platform:junit-platform-launcher")
}

tasks.test {
    useJUnitPlatform()
    // The same inputs run-tests.sh passes: golden tokenizer folders and numpy/sklearn vectors.
    System.getenv("GOLDEN_DIRS")?.let { systemProperty("golden.dirs", it) }
    System.getenv("RESULTS_VECTORS")?.let { systemProperty("results.vectors", it) }
}
