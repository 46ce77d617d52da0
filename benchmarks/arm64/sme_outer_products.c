/*
 * sme_outer_products.c: an instruction-level check of qemu's emulation of the SME (FEAT_SME, not SME2)
 * instructions that LiteRT's int8 dynamic-range FULLY_CONNECTED runs on an SME CPU: XNNPACK's qp8-f32-qc8w
 * "neonsme" GEMM, i.e. KleidiAI's kai_matmul_clamp_f32_qai8dxp1vlx4_qsi8cxp4vlx4_1vlx4vl_sme_mopa kernel.
 * Each result is compared with a plain-C reference computed on the same random data.
 *
 *  T1  SMOPA/UMOPA/SUMOPA/USMOPA  zaT.s += outer product of 8-bit vectors (4-way dot), tiles za0..za3
 *  T2  the same accumulated over 3 K blocks (the kernel's block loop)
 *  T3  FMOPA fp32 into zaT.s, tiles za0..za3 (the fp32 kernels' instruction)
 *  T4  the kernel's read-out: 4 x SMOPA into za0..za3.s, then MOVA z.b <- za0h.b[w14, 0..3]
 *  T5  LD1W into za1h.s slices, ST1W out of za1v.s slices (a transpose)
 *  T6  SMOPA za3.d (16-bit -> 64-bit, FEAT_SME_I16I64; run only when HWCAP2 has it)
 *
 * A wrong T1/T2 result is also compared with a model of qemu <= 7.2.x's helper (before upstream commit
 * d572bcb222 "target/arm: Fix 32-bit SMOPA", qemu issue #2083): "matches EXACTLY" means the emulator has
 * that bug. One line per case, "T<n> ... pass|FAIL (bad/total elements wrong)", then "RESULT: PASS|FAIL".
 * Exit status 0 all pass, 1 a case failed, 2 the CPU has no SME (nothing tested). SME_MAP=1 in the
 * environment also prints which elements of SMOPA za1.s are right.
 *
 * Built and run by benchmarks/sme_emulator_check.py:
 *     aarch64-linux-gnu-gcc -O1 -static -march=armv8.2-a -o sme_outer_products sme_outer_products.c
 *     qemu-aarch64 -cpu max,sme-default-vector-length=32 ./sme_outer_products
 * The SME instructions are assembled through ".arch armv9-a+sme" inside each asm block, so the C code
 * itself needs no SME compiler support (gcc 12 / binutils 2.40 are enough).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#define MAXVL 256                       /* bytes (2048 bits) */
#define CLOB "memory", "x12", "x13", \
    "v0","v1","v2","v3","v4","v5","v6","v7","v8","v9","v10","v11","v12","v13","v14","v15", \
    "v16","v17","v18","v19","v20","v21","v22","v23","v24","v25","v26","v27","v28","v29","v30","v31", \
    "p0","p1","p2","p3"

static int failures = 0;

static uint64_t svl_bytes(void) {
    uint64_t v;
    asm volatile(".arch armv9-a+sme\n\trdsvl %0, #1" : "=r"(v));
    return v;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* Store every horizontal .s slice of tile T to out (rows of SVL bytes). */
#define STORE_TILE_S(T) \
    "mov w12, #0\n\t" \
    "1:\n\t" \
    "st1w {za" #T "h.s[w12, 0]}, p0, [%[out]]\n\t" \
    "addvl %[out], %[out], #1\n\t" \
    "add w12, w12, #1\n\t" \
    "cntw x13\n\t" \
    "cmp x12, x13\n\t" \
    "b.lt 1b\n\t"

/* kblocks outer products of a[k*SVL..] x b[k*SVL..] into tile T with instruction OP. */
#define DEF_IMOP(OP, T) \
static void OP##_t##T(const int8_t *a, const int8_t *b, int32_t *out, long kblocks) { \
    asm volatile(".arch armv9-a+sme\n\t" \
        "smstart\n\t" \
        "ptrue p0.b\n\t" \
        "zero {za}\n\t" \
        "2:\n\t" \
        "ld1b {z0.b}, p0/z, [%[a]]\n\t" \
        "ld1b {z1.b}, p0/z, [%[b]]\n\t" \
        "addvl %[a], %[a], #1\n\t" \
        "addvl %[b], %[b], #1\n\t" \
        #OP " za" #T ".s, p0/m, p0/m, z0.b, z1.b\n\t" \
        "subs %[k], %[k], #1\n\t" \
        "b.ne 2b\n\t" \
        STORE_TILE_S(T) \
        "smstop\n\t" \
        : [a]"+r"(a), [b]"+r"(b), [out]"+r"(out), [k]"+r"(kblocks) : : CLOB); \
}
#define DEF_IMOP4(OP) DEF_IMOP(OP,0) DEF_IMOP(OP,1) DEF_IMOP(OP,2) DEF_IMOP(OP,3)
DEF_IMOP4(smopa) DEF_IMOP4(umopa) DEF_IMOP4(sumopa) DEF_IMOP4(usmopa)

typedef void imop_fn(const int8_t *, const int8_t *, int32_t *, long);
static imop_fn *imops[4][4] = {
    {smopa_t0, smopa_t1, smopa_t2, smopa_t3},
    {umopa_t0, umopa_t1, umopa_t2, umopa_t3},
    {sumopa_t0, sumopa_t1, sumopa_t2, sumopa_t3},
    {usmopa_t0, usmopa_t1, usmopa_t2, usmopa_t3},
};
static const char *imop_names[4] = {"SMOPA", "UMOPA", "SUMOPA", "USMOPA"};

static int32_t ref_imop(int op, const int8_t *a, const int8_t *b, int row, int col, long kb, int svl) {
    int32_t s = 0;
    for (long k = 0; k < kb; k++)
        for (int i = 0; i < 4; i++) {
            int8_t x = a[k * svl + row * 4 + i], y = b[k * svl + col * 4 + i];
            int32_t xs = (op == 0 || op == 2) ? (int32_t)x : (int32_t)(uint8_t)x;   /* SMOPA,SUMOPA: signed zn */
            int32_t ys = (op == 0 || op == 3) ? (int32_t)y : (int32_t)(uint8_t)y;   /* SMOPA,USMOPA: signed zm */
            s += xs * ys;
        }
    return s;
}

/* Model of qemu <= 7.2.x's helper for the 8-bit -> 32-bit outer products (do_imopa before upstream
 * commit d572bcb222 "target/arm: Fix 32-bit SMOPA", qemu issue #2083): it walks the tile as 64-bit
 * elements, so element [2R][2C] gets dot(zn row 2R, zm col 2C) (right), [2R][2C+1] gets
 * dot(zn row 2R+1, zm col 2C+1) (wrong row of zn), and odd rows [2R+1][*] are never written. */
static int32_t bug72_imop(int op, const int8_t *a, const int8_t *b, int row, int col, long kb, int svl) {
    if (row & 1) return 0;                                    /* left as zeroed by ZERO {ZA} */
    return ref_imop(op, a, b, row + (col & 1), col, kb, svl);
}

static void report(const char *name, long bad, long total, const char *detail) {
    printf("%-44s %s  (%ld/%ld elements wrong)%s%s\n", name, bad ? "FAIL" : "pass", bad, total,
           detail[0] ? "  e.g. " : "", detail);
    if (bad) failures++;
}

static void test_imop(int svl, long kblocks) {
    int n = svl / 4;
    int8_t a[MAXVL * 8], b[MAXVL * 8];
    int32_t out[(MAXVL / 4) * (MAXVL / 4)];
    for (int op = 0; op < 4; op++)
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < svl * kblocks; i++) { a[i] = (int8_t)rnd(); b[i] = (int8_t)rnd(); }
            memset(out, 0x55, sizeof out);
            imops[op][t](a, b, out, kblocks);
            long bad = 0, notbug = 0; char detail[160] = "";
            for (int r = 0; r < n; r++)
                for (int c = 0; c < n; c++) {
                    int32_t want = ref_imop(op, a, b, r, c, kblocks, svl), got = out[r * n + c];
                    if (got != bug72_imop(op, a, b, r, c, kblocks, svl)) notbug++;
                    if (want != got) {
                        if (!bad) snprintf(detail, sizeof detail, "za%d.s[%d][%d] got %d want %d", t, r, c, got, want);
                        bad++;
                    }
                }
            if (getenv("SME_MAP") && op == 0 && t == 1 && kblocks == 1) {   /* which elements are right */
                printf("correctness map of SMOPA za1.s (row = ZA tile row, '.' right, 'X' wrong):\n");
                for (int r = 0; r < n; r++) {
                    for (int c = 0; c < n; c++)
                        putchar(ref_imop(op, a, b, r, c, 1, svl) == out[r * n + c] ? '.' : 'X');
                    putchar('\n');
                }
            }
            char name[64];
            snprintf(name, sizeof name, "T%d %s za%d.s (8-bit, %ld K-block%s)", kblocks == 1 ? 1 : 2,
                     imop_names[op], t, kblocks, kblocks == 1 ? "" : "s");
            report(name, bad, (long)n * n, detail);
            if (bad) printf("    ...output %s the qemu-7.2 SMOPA-bug model (%ld/%ld elements differ from it)\n",
                            notbug ? "does NOT match" : "matches EXACTLY", notbug, (long)n * n);
        }
}

/* T3: FMOPA fp32 */
#define DEF_FMOPA(T) \
static void fmopa_t##T(const float *a, const float *b, float *out) { \
    asm volatile(".arch armv9-a+sme\n\t" \
        "smstart\n\t" \
        "ptrue p0.b\n\t" \
        "zero {za}\n\t" \
        "ld1w {z0.s}, p0/z, [%[a]]\n\t" \
        "ld1w {z1.s}, p0/z, [%[b]]\n\t" \
        "fmopa za" #T ".s, p0/m, p0/m, z0.s, z1.s\n\t" \
        "ld1w {z0.s}, p0/z, [%[a], #1, mul vl]\n\t" \
        "ld1w {z1.s}, p0/z, [%[b], #1, mul vl]\n\t" \
        "fmopa za" #T ".s, p0/m, p0/m, z0.s, z1.s\n\t" \
        STORE_TILE_S(T) \
        "smstop\n\t" \
        : [a]"+r"(a), [b]"+r"(b), [out]"+r"(out) : : CLOB); \
}
DEF_FMOPA(0) DEF_FMOPA(1) DEF_FMOPA(2) DEF_FMOPA(3)
typedef void fmop_fn(const float *, const float *, float *);
static fmop_fn *fmops[4] = {fmopa_t0, fmopa_t1, fmopa_t2, fmopa_t3};

static void test_fmopa(int svl) {
    int n = svl / 4;
    float a[MAXVL / 2], b[MAXVL / 2], out[(MAXVL / 4) * (MAXVL / 4)];
    for (int t = 0; t < 4; t++) {
        for (int i = 0; i < 2 * n; i++) { a[i] = (float)((int)(rnd() % 17) - 8) * 0.25f; b[i] = (float)((int)(rnd() % 13) - 6) * 0.5f; }
        fmops[t](a, b, out);
        long bad = 0; char detail[160] = "";
        for (int r = 0; r < n; r++)
            for (int c = 0; c < n; c++) {
                float want = a[r] * b[c] + a[n + r] * b[n + c];   /* exact in fp32 for these values */
                if (out[r * n + c] != want) {
                    if (!bad) snprintf(detail, sizeof detail, "za%d.s[%d][%d] got %g want %g", t, r, c, out[r * n + c], want);
                    bad++;
                }
            }
        char name[64];
        snprintf(name, sizeof name, "T3 FMOPA fp32 za%d.s (2 accumulations)", t);
        report(name, bad, (long)n * n, detail);
    }
}

/* T4: the KleidiAI sme_mopa read-out: za0..za3.s filled by SMOPA with the same LHS and four RHS
 * vectors, then ZA array rows read back as bytes via MOVA z.b, p/m, za0h.b[w12, 0..3]:
 * ZA row 4r+t holds za<t>.s row r, so out[r][t][c] must equal dot(a[r], b_t[c]). */
static void kai_like(const int8_t *a, const int8_t *b, int32_t *out) {
    asm volatile(".arch armv9-a+sme\n\t"
        "smstart\n\t"
        "ptrue p2.b\n\t"
        "zero {za}\n\t"
        "ld1b {z4.b}, p2/z, [%[a]]\n\t"
        "ld1b {z8.b}, p2/z, [%[b]]\n\t"
        "ld1b {z9.b}, p2/z, [%[b], #1, mul vl]\n\t"
        "ld1b {z10.b}, p2/z, [%[b], #2, mul vl]\n\t"
        "ld1b {z11.b}, p2/z, [%[b], #3, mul vl]\n\t"
        "smopa za0.s, p2/m, p2/m, z4.b, z8.b\n\t"
        "smopa za1.s, p2/m, p2/m, z4.b, z9.b\n\t"
        "smopa za2.s, p2/m, p2/m, z4.b, z10.b\n\t"
        "smopa za3.s, p2/m, p2/m, z4.b, z11.b\n\t"
        "mov w14, #0\n\t"
        "cntw x13\n\t"
        "lsl x13, x13, #2\n\t"
        "3:\n\t"
        "mov z12.b, p2/m, za0h.b[w14, 0]\n\t"
        "mov z13.b, p2/m, za0h.b[w14, 1]\n\t"
        "mov z14.b, p2/m, za0h.b[w14, 2]\n\t"
        "mov z15.b, p2/m, za0h.b[w14, 3]\n\t"
        "st1w {z12.s}, p2, [%[out]]\n\t"
        "st1w {z13.s}, p2, [%[out], #1, mul vl]\n\t"
        "st1w {z14.s}, p2, [%[out], #2, mul vl]\n\t"
        "st1w {z15.s}, p2, [%[out], #3, mul vl]\n\t"
        "addvl %[out], %[out], #4\n\t"
        "add x14, x14, #4\n\t"
        "cmp x14, x13\n\t"
        "b.lt 3b\n\t"
        "smstop\n\t"
        : [a]"+r"(a), [b]"+r"(b), [out]"+r"(out) : : CLOB, "x14");
}

static void test_kai_like(int svl) {
    int n = svl / 4;
    int8_t a[MAXVL], b[4 * MAXVL];
    int32_t out[4 * (MAXVL / 4) * (MAXVL / 4)];
    for (int i = 0; i < svl; i++) a[i] = (int8_t)rnd();
    for (int i = 0; i < 4 * svl; i++) b[i] = (int8_t)rnd();
    kai_like(a, b, out);
    long bad = 0; char detail[160] = "";
    for (int r = 0; r < n; r++)
        for (int t = 0; t < 4; t++)
            for (int c = 0; c < n; c++) {
                int32_t want = ref_imop(0, a, b + t * svl, r, c, 1, svl), got = out[(r * 4 + t) * n + c];
                if (want != got) {
                    if (!bad) snprintf(detail, sizeof detail, "za%d.s[%d][%d] got %d want %d", t, r, c, got, want);
                    bad++;
                }
            }
    report("T4 kai sme_mopa pattern (4xSMOPA + MOVA .b)", bad, 4L * n * n, detail);
}

/* T5: LD1W into za1h.s[w12,0] for each row, then ST1W of za1v.s columns (transpose). */
static void ld_st_tile(const int32_t *in, int32_t *out) {
    asm volatile(".arch armv9-a+sme\n\t"
        "smstart\n\t"
        "ptrue p0.b\n\t"
        "zero {za}\n\t"
        "mov w12, #0\n\t"
        "cntw x13\n\t"
        "4:\n\t"
        "ld1w {za1h.s[w12, 0]}, p0/z, [%[in]]\n\t"
        "addvl %[in], %[in], #1\n\t"
        "add w12, w12, #1\n\t"
        "cmp x12, x13\n\t"
        "b.lt 4b\n\t"
        "mov w12, #0\n\t"
        "5:\n\t"
        "st1w {za1v.s[w12, 0]}, p0, [%[out]]\n\t"
        "addvl %[out], %[out], #1\n\t"
        "add w12, w12, #1\n\t"
        "cmp x12, x13\n\t"
        "b.lt 5b\n\t"
        "smstop\n\t"
        : [in]"+r"(in), [out]"+r"(out) : : CLOB);
}

static void test_ld_st(int svl) {
    int n = svl / 4;
    int32_t in[(MAXVL / 4) * (MAXVL / 4)], out[(MAXVL / 4) * (MAXVL / 4)];
    for (int i = 0; i < n * n; i++) in[i] = (int32_t)rnd();
    ld_st_tile(in, out);
    long bad = 0; char detail[160] = "";
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++)
            if (out[c * n + r] != in[r * n + c]) {
                if (!bad) snprintf(detail, sizeof detail, "[%d][%d]", r, c);
                bad++;
            }
    report("T5 LD1W za1h.s / ST1W za1v.s (transpose)", bad, (long)n * n, detail);
}

/* T6: SMOPA za0.d 16-bit -> 64-bit (qemu's own sme-smopa-2 style) */
static void smopa_d(const int16_t *a, const int16_t *b, int64_t *out) {
    asm volatile(".arch armv9-a+sme-i64\n\t"
        "smstart\n\t"
        "ptrue p0.b\n\t"
        "zero {za}\n\t"
        "ld1h {z0.h}, p0/z, [%[a]]\n\t"
        "ld1h {z1.h}, p0/z, [%[b]]\n\t"
        "smopa za3.d, p0/m, p0/m, z0.h, z1.h\n\t"
        "mov w12, #0\n\t"
        "cntd x13\n\t"
        "6:\n\t"
        "st1d {za3h.d[w12, 0]}, p0, [%[out]]\n\t"
        "addvl %[out], %[out], #1\n\t"
        "add w12, w12, #1\n\t"
        "cmp x12, x13\n\t"
        "b.lt 6b\n\t"
        "smstop\n\t"
        : [a]"+r"(a), [b]"+r"(b), [out]"+r"(out) : : CLOB);
}

static void test_smopa_d(int svl) {
    int n = svl / 8;
    int16_t a[MAXVL / 2], b[MAXVL / 2];
    int64_t out[(MAXVL / 8) * (MAXVL / 8)];
    for (int i = 0; i < svl / 2; i++) { a[i] = (int16_t)rnd(); b[i] = (int16_t)rnd(); }
    smopa_d(a, b, out);
    long bad = 0; char detail[160] = "";
    for (int r = 0; r < n; r++)
        for (int c = 0; c < n; c++) {
            int64_t want = 0;
            for (int i = 0; i < 4; i++) want += (int64_t)a[r * 4 + i] * b[c * 4 + i];
            if (out[r * n + c] != want) {
                if (!bad) snprintf(detail, sizeof detail, "za3.d[%d][%d] got %lld want %lld", r, c, (long long)out[r * n + c], (long long)want);
                bad++;
            }
        }
    report("T6 SMOPA za3.d (16-bit -> 64-bit)", bad, (long)n * n, detail);
}

int main(void) {
    unsigned long hw2 = getauxval(AT_HWCAP2);
    if (!(hw2 & (1UL << 23))) {   /* HWCAP2_SME */
        printf("no SME (HWCAP2=%#lx): nothing to test\n", hw2);
        return 2;
    }
    int svl = (int)svl_bytes();
    if (svl > MAXVL) {
        printf("streaming vector length %d bytes is above the %d this test's buffers hold\n", svl, MAXVL);
        return 2;
    }
    printf("HWCAP2=%#lx SME=1 SME2=%d SME_I16I64=%d  streaming vector length SVL=%d bytes (%d bits)\n",
           hw2, !!(hw2 & (1UL << 37)), !!(hw2 & (1UL << 24)), svl, svl * 8);
    test_imop(svl, 1);
    test_imop(svl, 3);
    test_fmopa(svl);
    test_kai_like(svl);
    test_ld_st(svl);
    if (hw2 & (1UL << 24)) test_smopa_d(svl);
    printf("RESULT: %s (%d failing test%s)\n", failures ? "FAIL" : "PASS", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
