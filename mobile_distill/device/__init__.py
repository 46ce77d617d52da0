"""Device stage: the Android demo's bundle out (`app_bundle`), its results back in (`merge_device_results`).

    export -> bench -> app-bundle -> [phone: android_demo's benchmark screen] -> results.json
                 \\______________ report / bench --device-results results.json ____________/

Everything the phone's numbers depend on (tokenizer, input binding, statistics) is the Java core in
android_demo/core, tested on every CI run against files this package writes.
"""

from .bundle import BUNDLE_INDEX, TEST_SAMPLE, Sample, app_bundle, check_artifacts, choose_sample, test_sample
from .results import device_label, merge_device_results, read_device_results

__all__ = ["BUNDLE_INDEX", "TEST_SAMPLE", "Sample", "app_bundle", "check_artifacts", "choose_sample", "device_label",
           "merge_device_results", "read_device_results", "test_sample"]
