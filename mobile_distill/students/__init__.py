"""Student stage: build a smaller model of a real `transformers` class from the teacher.

The student registry: one module per student type in this folder (a `StudentType` with its presets and
its builder) and one line in `_REGISTERED` (registry.py). The config's type and preset choices, the CLI's
``--student`` and ``--preset`` choices, the docs table and the tests are derived from `STUDENT_TYPES`.
Nothing heavy is imported here: builders are imported when a student is built.

    distilbert   DistilBERT class, a subset of the teacher's layers at its width (Sanh et al. 2019)
    bert         the teacher's class with fewer layers, copied (keeps token types)
    tinybert     a narrower, shallower BERT (Jiao et al. 2020)
    mobilebert   a MobileBERT with bottlenecks, narrow embeddings and stacked FFNs (Sun et al. 2020)
    bilstm       a one-layer BiLSTM over the teacher's word embeddings (Tang et al. 2019)
    cnn          1D convolutions over the teacher's word embeddings (Kim 2014)
"""

from .registry import (
    PRESETS,
    STUDENT_TYPES,
    STUDENT_TYPE_NAMES,
    Architecture,
    Student,
    StudentType,
    WeightOrigins,
    build_student,
    default_layer_map,
    docs_table,
    resolve,
    teacher_shape,
    uniform_layer_map,
)

__all__ = ["PRESETS", "STUDENT_TYPES", "STUDENT_TYPE_NAMES", "Architecture", "Student", "StudentType", "WeightOrigins", "build_student", "default_layer_map", "docs_table", "resolve", "teacher_shape", "uniform_layer_map"]
