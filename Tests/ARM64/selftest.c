/* ARM64 self-test of ZSMKernels (see run.sh). Runs every kernel through the @_cdecl shims in
   Shims.swift on small pseudo-random shapes (odd sizes, channel counts that are not multiples
   of 16, pixel strides wider than the channel count) and compares with scalar references in
   double precision written here, independently of the Swift code. Exit status 0 == all pass.
   Tolerances match Tests/ZSMKernelsTests: convolutions within 1e-5 of the summation magnitude
   (|bias| + sum |w*x|), pointwise functions within a few ulp. The reduced-precision convolutions
   (issue 7: fp16 arithmetic, int8 sdot) have their own bounds, explained at their tests.
   `selftest count K R` instead runs one convolution R times for run.sh's instruction count. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__aarch64__) && defined(__linux__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

typedef intptr_t I;
I zsm_packed_weight_count(I cin, I cout, I taps);
I zsm_packed_bias_count(I cin, I cout, I taps);
I zsm_deform_scratch_count(I cin, I groups, I tile);
void zsm_pack(const float *oihw, const float *bias, I cin, I cout, I taps, float *pw, float *pb);
void zsm_conv(float *in, I h, I w, I c, I ps, I rs, const float *pw, const float *pb, I cout, I kernel, I stride,
              I epilogue, float *out, I oh, I ow, I ops, I ors, I split);
void zsm_deform_conv(float *in, I h, I w, I c, I ps, I rs, float *om, I omps, I omrs, I groups, const float *pw,
                     const float *pb, I cout, I epilogue, float *out, I ops, I ors, float *scratch, I tile, I split);
void zsm_upsample2x(float *in, I h, I w, I c, I ps, I rs, float *out, I ops, I ors, float scale);
void zsm_pixel_shuffle2x(float *in, I h, I w, I c, I ps, I rs, float *out, I ops, I ors, I leaky);
void zsm_pointwise(I which, float *in, I h, I w, I c, I ps, I rs, float *out, I ops, I ors, float alpha);
void zsm_scale_add(float *a, float alpha, float *b, float beta, float *out, I h, I w, I c, I ps, I rs);
void zsm_lstm_update(float *gates, I gps, float *cin, float *cout, float *hid, I h, I w, I c, I ps);
float zsm_fma_peak(I iterations, float seed);
void zsm_probe_fp16_fma(const _Float16 *a, const _Float16 *b, _Float16 *c, I n);
void zsm_conv_f16_arith(_Float16 *in, I h, I w, I c, I ps, I rs, const _Float16 *pw, const float *pb, I cout,
                        I stride, I epilogue, _Float16 *out, I oh, I ow, I ops, I ors, I split);
I zsm_int8_dot_storage(I cin, I cout, I which);
void zsm_int8_dot_pack(const float *oihw, const float *bias, I cin, I cout, float act_scale, int32_t zero_point,
                       int8_t *weights, int32_t *correction, float *out_scale, float *bias_out);
void zsm_conv_int8_dot(int8_t *in, I h, I w, I c, I ps, I rs, const int8_t *weights, const int32_t *correction,
                       const float *out_scale, const float *bias, I cout, I stride, I epilogue, float *out, I oh, I ow,
                       I ops, I ors, I split);

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;
static unsigned rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12; rng_state ^= rng_state << 25; rng_state ^= rng_state >> 27;
  return (unsigned)((rng_state * 2685821657736338717ull) >> 32);
}
static float frnd(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }

static int failures = 0, checks = 0;
static void report(const char *name, const char *shape, double err, double bound) {
  int ok = err <= bound; /* NaN fails */
  checks++;
  if (!ok) failures++;
  printf("%-8s %-22s %-44s err=%.3g (bound %.3g)\n", ok ? "PASS" : "FAIL", name, shape, err, bound);
}

/* A channels-last map with a zero halo of `halo` pixels and a sentinel in unused channels. */
typedef struct { float *mem, *base; I h, w, c, ps, rs, halo; size_t n; } Map;
static Map map_new(I h, I w, I c, I ps, I halo) {
  Map m = {0};
  m.h = h; m.w = w; m.c = c; m.ps = ps; m.halo = halo;
  m.rs = (w + 2 * halo) * ps;
  m.n = (size_t)((h + 2 * halo) * m.rs) + 64; /* + 64: slack never written */
  m.mem = calloc(m.n, sizeof(float));
  m.base = m.mem + halo * m.rs + halo * ps;
  return m;
}
static float *px(const Map *m, I y, I x) { return m->base + y * m->rs + x * m->ps; }
static void map_fill(Map *m, float lo, float hi) {
  for (I y = 0; y < m->h; y++)
    for (I x = 0; x < m->w; x++)
      for (I c = 0; c < m->c; c++) px(m, y, x)[c] = frnd(lo, hi);
}
static void map_sentinel(Map *m) { for (size_t i = 0; i < m->n; i++) m->mem[i] = 12345.0f; }
/* Value at (y, x, c), 0 outside the map (the reference never reads the halo). */
static double at(const Map *m, I y, I x, I c) {
  return (y < 0 || y >= m->h || x < 0 || x >= m->w) ? 0.0 : (double)px(m, y, x)[c];
}
/* Every float of `m` outside its valid channels must still hold the sentinel. */
static int untouched_outside(const Map *m) {
  for (size_t i = 0; i < m->n; i++) {
    I off = (I)(m->base - m->mem);
    I r = (I)i - off;
    int inside = 0;
    if (r >= 0) {
      I y = r / m->rs, rem = r % m->rs, x = rem / m->ps, c = rem % m->ps;
      inside = y < m->h && x < m->w && c < m->c;
    }
    if (!inside && m->mem[i] != 12345.0f) return 0;
  }
  return 1;
}
static double leaky(double v) { return v < 0 ? 0.1 * v : v; }
static double sigm(double v) { return 1.0 / (1.0 + exp(-v)); }

static double apply_epilogue(double v, int epilogue, double residual) {
  switch (epilogue) {
  case 1: return v < 0 ? 0 : v;
  case 2: return leaky(v);
  case 3: return v + residual;
  default: return v;
  }
}

static void test_conv(I cin, I cout, I h, I w, I kernel, I stride, int epilogue, I in_extra, I out_extra) {
  static const char *epi_names[] = {"none", "relu", "leaky", "residual"};
  Map in = map_new(h, w, cin, cin + in_extra, kernel == 3 ? 1 : 0);
  map_fill(&in, -1, 1);
  I oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
  Map out = map_new(oh, ow, cout, cout + out_extra, 0);
  map_sentinel(&out);
  I taps = kernel * kernel;
  float *wt = malloc(sizeof(float) * cout * cin * taps), *bias = malloc(sizeof(float) * cout);
  for (I i = 0; i < cout * cin * taps; i++) wt[i] = frnd(-0.3f, 0.3f);
  for (I i = 0; i < cout; i++) bias[i] = frnd(-0.5f, 0.5f);
  double *res = malloc(sizeof(double) * oh * ow * cout);
  for (I y = 0; y < oh; y++)
    for (I x = 0; x < ow; x++)
      for (I o = 0; o < cout; o++) {
        float r = epilogue == 3 ? frnd(-1, 1) : 12345.0f;
        if (epilogue == 3) px(&out, y, x)[o] = r;
        res[(y * ow + x) * cout + o] = r;
      }
  float *pw = malloc(sizeof(float) * zsm_packed_weight_count(cin, cout, taps));
  float *pb = malloc(sizeof(float) * zsm_packed_bias_count(cin, cout, taps));
  zsm_pack(wt, bias, cin, cout, taps, pw, pb);
  zsm_conv(in.base, h, w, cin, in.ps, in.rs, pw, pb, cout, kernel, stride, epilogue, out.base, oh, ow, out.ps,
           out.rs, oh / 2);
  double worst = 0;
  I pad = kernel / 2;
  for (I y = 0; y < oh; y++)
    for (I x = 0; x < ow; x++)
      for (I o = 0; o < cout; o++) {
        double s = bias[o], mag = fabs((double)bias[o]);
        for (I i = 0; i < kernel; i++)
          for (I j = 0; j < kernel; j++)
            for (I c = 0; c < cin; c++) {
              double p = (double)wt[((o * cin + c) * kernel + i) * kernel + j] *
                         at(&in, y * stride - pad + i, x * stride - pad + j, c);
              s += p; mag += fabs(p);
            }
        double r = res[(y * ow + x) * cout + o];
        double want = apply_epilogue(s, epilogue, r);
        if (epilogue == 3) mag += fabs(r);
        double e = fabs((double)px(&out, y, x)[o] - want) / (mag > 1e-30 ? mag : 1e-30);
        if (!(e <= worst)) worst = e;
      }
  if (!untouched_outside(&out)) worst = INFINITY;
  char name[32], shape[64];
  snprintf(name, sizeof name, "conv%dx%d_s%d_%s", (int)kernel, (int)kernel, (int)stride, epi_names[epilogue]);
  snprintf(shape, sizeof shape, "%ldx%ld %ld->%ld ps %ld/%ld", (long)w, (long)h, (long)cin, (long)cout,
           (long)in.ps, (long)out.ps);
  report(name, shape, worst, 1e-5);
  free(in.mem); free(out.mem); free(wt); free(bias); free(res); free(pw); free(pb);
}

static void test_deform(I c, I groups, I cout, I h, I w, float offset_range, I tile, int epilogue) {
  Map in = map_new(h, w, c, c, 0);
  map_fill(&in, -1, 1);
  I gk = groups * 9;
  Map om = map_new(h, w, 3 * gk, 3 * gk + 1, 0);
  for (I y = 0; y < h; y++)
    for (I x = 0; x < w; x++) {
      float *p = px(&om, y, x);
      for (I k = 0; k < 2 * gk; k++) {
        unsigned r = rnd() % 16;
        /* mostly small offsets, some far outside the map, some exact integers */
        p[k] = r == 0 ? frnd(-4 * offset_range, 4 * offset_range)
             : r == 1 ? (float)((int)(rnd() % 7) - 3)
             : frnd(-offset_range, offset_range);
      }
      for (I k = 2 * gk; k < 3 * gk; k++) p[k] = frnd(-3, 3);
    }
  Map out = map_new(h, w, cout, cout, 0);
  map_sentinel(&out);
  float *wt = malloc(sizeof(float) * cout * c * 9), *bias = malloc(sizeof(float) * cout);
  for (I i = 0; i < cout * c * 9; i++) wt[i] = frnd(-0.3f, 0.3f);
  for (I i = 0; i < cout; i++) bias[i] = frnd(-0.5f, 0.5f);
  float *pw = malloc(sizeof(float) * zsm_packed_weight_count(c, cout, 9));
  float *pb = malloc(sizeof(float) * zsm_packed_bias_count(c, cout, 9));
  zsm_pack(wt, bias, c, cout, 9, pw, pb);
  float *scratch = malloc(sizeof(float) * zsm_deform_scratch_count(c, groups, tile));
  zsm_deform_conv(in.base, h, w, c, in.ps, in.rs, om.base, om.ps, om.rs, groups, pw, pb, cout, epilogue, out.base,
                  out.ps, out.rs, scratch, tile, h / 2);
  I per = c / groups;
  double *samples = malloc(sizeof(double) * c * 9), worst = 0;
  for (I y = 0; y < h; y++)
    for (I x = 0; x < w; x++) {
      const float *p = px(&om, y, x);
      for (I ch = 0; ch < c; ch++) {
        I g = ch / per;
        for (I k = 0; k < 9; k++) {
          double dy = p[g * 18 + 2 * k], dx = p[g * 18 + 2 * k + 1], m = sigm(p[2 * gk + g * 9 + k]);
          double py = (double)(y - 1 + k / 3) + dy, pxx = (double)(x - 1 + k % 3) + dx, s = 0;
          if (!(py <= -1 || py >= (double)h || pxx <= -1 || pxx >= (double)w)) {
            I y0 = (I)floor(py), x0 = (I)floor(pxx);
            double ly = py - (double)y0, lx = pxx - (double)x0;
            s = (1 - ly) * (1 - lx) * at(&in, y0, x0, ch) + (1 - ly) * lx * at(&in, y0, x0 + 1, ch) +
                ly * (1 - lx) * at(&in, y0 + 1, x0, ch) + ly * lx * at(&in, y0 + 1, x0 + 1, ch);
          }
          samples[ch * 9 + k] = m * s;
        }
      }
      for (I o = 0; o < cout; o++) {
        double s = bias[o], mag = fabs((double)bias[o]);
        for (I ch = 0; ch < c; ch++)
          for (I k = 0; k < 9; k++) {
            double t = (double)wt[(o * c + ch) * 9 + k] * samples[ch * 9 + k];
            s += t; mag += fabs(t);
          }
        double want = apply_epilogue(s, epilogue, 0);
        double e = fabs((double)px(&out, y, x)[o] - want) / (mag > 1e-3 ? mag : 1e-3);
        if (!(e <= worst)) worst = e;
      }
    }
  if (!untouched_outside(&out)) worst = INFINITY;
  char shape[64];
  snprintf(shape, sizeof shape, "%ldx%ld C%ld G%ld ->%ld off±%g tile %ld", (long)w, (long)h, (long)c, (long)groups,
           (long)cout, offset_range, (long)tile);
  report(epilogue == 2 ? "deformConv3x3_leaky" : "deformConv3x3", shape, worst, 1e-5);
  free(in.mem); free(om.mem); free(out.mem); free(wt); free(bias); free(pw); free(pb); free(scratch); free(samples);
}

static void up_taps(I o, I n, I *i0, I *i1, double *l) {
  double s = ((double)o + 0.5) / 2 - 0.5;
  if (s < 0) s = 0;
  *i0 = (I)floor(s);
  *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
  *l = s - (double)*i0;
}

static void test_upsample(I c, I h, I w, float scale) {
  Map in = map_new(h, w, c, c + 2, 0);
  map_fill(&in, -1, 1);
  Map out = map_new(2 * h, 2 * w, c, c + 1, 0);
  map_sentinel(&out);
  zsm_upsample2x(in.base, h, w, c, in.ps, in.rs, out.base, out.ps, out.rs, scale);
  double worst = 0;
  for (I y = 0; y < 2 * h; y++)
    for (I x = 0; x < 2 * w; x++) {
      I y0, y1, x0, x1; double ly, lx;
      up_taps(y, h, &y0, &y1, &ly);
      up_taps(x, w, &x0, &x1, &lx);
      for (I ch = 0; ch < c; ch++) {
        double v = (1 - ly) * ((1 - lx) * at(&in, y0, x0, ch) + lx * at(&in, y0, x1, ch)) +
                   ly * ((1 - lx) * at(&in, y1, x0, ch) + lx * at(&in, y1, x1, ch));
        double e = fabs((double)px(&out, y, x)[ch] - scale * v);
        if (!(e <= worst)) worst = e;
      }
    }
  if (!untouched_outside(&out)) worst = INFINITY;
  char shape[64];
  snprintf(shape, sizeof shape, "%ldx%ld C%ld scale %g", (long)w, (long)h, (long)c, scale);
  report("upsample2x", shape, worst, 4e-6 * fabs(scale));
  free(in.mem); free(out.mem);
}

static void test_shuffle(I c, I h, I w, int leak) {
  Map in = map_new(h, w, 4 * c, 4 * c + 3, 0);
  map_fill(&in, -1, 1);
  Map out = map_new(2 * h, 2 * w, c, c, 0);
  map_sentinel(&out);
  zsm_pixel_shuffle2x(in.base, h, w, c, in.ps, in.rs, out.base, out.ps, out.rs, leak);
  double worst = 0;
  for (I y = 0; y < h; y++)
    for (I x = 0; x < w; x++)
      for (I a = 0; a < 2; a++)
        for (I b = 0; b < 2; b++)
          for (I ch = 0; ch < c; ch++) {
            float v = px(&in, y, x)[(2 * a + b) * c + ch];
            float want = leak && v < 0 ? v * 0.1f : v;
            double e = fabs((double)px(&out, 2 * y + a, 2 * x + b)[ch] - (double)want);
            if (!(e <= worst)) worst = e;
          }
  if (!untouched_outside(&out)) worst = INFINITY;
  char shape[64];
  snprintf(shape, sizeof shape, "%ldx%ld C%ld", (long)w, (long)h, (long)c);
  report(leak ? "pixelShuffle2x_leaky" : "pixelShuffle2x", shape, worst, 0);
  free(in.mem); free(out.mem);
}

static void test_pointwise(I which, I c, I h, I w) {
  static const char *names[] = {"sigmoid", "tanh", "scale"};
  Map in = map_new(h, w, c, c + 1, 0);
  map_fill(&in, -12, 12);
  px(&in, 0, 0)[0] = 100; /* saturation */
  if (c > 1) px(&in, 0, 0)[1] = -100;
  Map out = map_new(h, w, c, c + 1, 0);
  map_sentinel(&out);
  zsm_pointwise(which, in.base, h, w, c, in.ps, in.rs, out.base, out.ps, out.rs, 0.75f);
  double worst = 0;
  for (I y = 0; y < h; y++)
    for (I x = 0; x < w; x++)
      for (I ch = 0; ch < c; ch++) {
        double v = px(&in, y, x)[ch];
        double want = which == 0 ? sigm(v) : which == 1 ? tanh(v) : 0.75 * v;
        double e = fabs((double)px(&out, y, x)[ch] - want) / (fabs(want) > 1e-30 ? fabs(want) : 1e-30);
        if (!(e <= worst)) worst = e;
      }
  if (!untouched_outside(&out)) worst = INFINITY;
  char shape[64];
  snprintf(shape, sizeof shape, "%ldx%ld C%ld (relative error)", (long)w, (long)h, (long)c);
  report(names[which], shape, worst, 3e-7);
  free(in.mem); free(out.mem);
}

static void test_scale_add(I c, I h, I w) {
  Map a = map_new(h, w, c, c + 2, 0), b = map_new(h, w, c, c + 2, 0), out = map_new(h, w, c, c + 2, 0);
  map_fill(&a, -1, 1); map_fill(&b, -1, 1);
  map_sentinel(&out);
  zsm_scale_add(a.base, 2.0f, b.base, -0.5f, out.base, h, w, c, a.ps, a.rs);
  double worst = 0;
  for (I y = 0; y < h; y++)
    for (I x = 0; x < w; x++)
      for (I ch = 0; ch < c; ch++) {
        double want = 2.0 * px(&a, y, x)[ch] - 0.5 * px(&b, y, x)[ch];
        double e = fabs((double)px(&out, y, x)[ch] - want);
        if (!(e <= worst)) worst = e;
      }
  if (!untouched_outside(&out)) worst = INFINITY;
  char shape[64];
  snprintf(shape, sizeof shape, "%ldx%ld C%ld", (long)w, (long)h, (long)c);
  report("scaleAdd", shape, worst, 1e-6);
  free(a.mem); free(b.mem); free(out.mem);
}

static void test_lstm(I c, I h, I w) {
  Map gates = map_new(h, w, 4 * c, 4 * c + 1, 0), cell_in = map_new(h, w, c, c, 0);
  map_fill(&gates, -4, 4); map_fill(&cell_in, -2, 2);
  Map cell_out = map_new(h, w, c, c, 0), hidden = map_new(h, w, c, c, 0);
  map_sentinel(&cell_out); map_sentinel(&hidden);
  zsm_lstm_update(gates.base, gates.ps, cell_in.base, cell_out.base, hidden.base, h, w, c, c);
  double worst = 0;
  for (I y = 0; y < h; y++)
    for (I x = 0; x < w; x++)
      for (I ch = 0; ch < c; ch++) {
        const float *z = px(&gates, y, x);
        double i = sigm(z[ch]), f = sigm(z[c + ch]), o = sigm(z[2 * c + ch]), g = tanh(z[3 * c + ch]);
        double cell = f * px(&cell_in, y, x)[ch] + i * g;
        double e1 = fabs((double)px(&cell_out, y, x)[ch] - cell) / (fabs(cell) > 1 ? fabs(cell) : 1);
        double e2 = fabs((double)px(&hidden, y, x)[ch] - o * tanh(cell));
        if (!(e1 <= worst)) worst = e1;
        if (!(e2 <= worst)) worst = e2;
      }
  if (!untouched_outside(&cell_out) || !untouched_outside(&hidden)) worst = INFINITY;
  char shape[64];
  snprintf(shape, sizeof shape, "%ldx%ld C%ld", (long)w, (long)h, (long)c);
  report("lstmUpdate", shape, worst, 1e-6);
  free(gates.mem); free(cell_in.mem); free(cell_out.mem); free(hidden.mem);
}

static void test_peak(void) {
  /* 6 accumulators c_i = i (Peak.swift: 24 only with AVX-512), each gets n fused multiply-adds
     of seed * 1e-7 in fp32 */
  I n = 1000;
  float got = zsm_fma_peak(n, 0.5f);
  double want = 0;
  for (int i = 0; i < 6; i++) {
    float acc = (float)i;
    for (I k = 0; k < n; k++) acc = fmaf(0.5f, 1e-7f, acc);
    want += 16.0 * acc;
  }
  char shape[64];
  snprintf(shape, sizeof shape, "%ld iterations", (long)n);
  report("fmaPeakLoop", shape, fabs(got - want) / want, 1e-6);
}

/* The fp16 probe (Shims.swift): c += a * b in Float16, each lane within one fp16 rounding of
   the exact value (the v8.2 build uses fmla v.8h; the v8.0 build converts through fp32). */
static void test_fp16_probe(I n) {
  _Float16 *a = malloc(2 * n), *b = malloc(2 * n), *c = malloc(2 * n);
  double *want = malloc(sizeof(double) * n);
  for (I i = 0; i < n; i++) {
    a[i] = (_Float16)frnd(-2, 2); b[i] = (_Float16)frnd(-2, 2); c[i] = (_Float16)frnd(-2, 2);
    want[i] = (double)c[i] + (double)a[i] * (double)b[i];
  }
  zsm_probe_fp16_fma(a, b, c, n);
  double worst = 0;
  for (I i = 0; i < n; i++) {
    double e = fabs((double)c[i] - want[i]) / (ldexp(fabs(want[i]), -11) + ldexp(1.0, -24));
    if (!(e <= worst)) worst = e;
  }
  char shape[64];
  snprintf(shape, sizeof shape, "n=%ld (error in fp16 half-ulps)", (long)n);
  report("fp16 probe (c+=a*b)", shape, worst, 1.0);
  free(a); free(b); free(c); free(want);
}


/* A channels-last map of 16-bit or 8-bit elements with a halo of `halo` pixels. */
typedef struct { void *mem; char *base; I h, w, c, ps, rs, esz; size_t n; } BMap;
static BMap bmap_new(I h, I w, I c, I ps, I halo, I esz) {
  BMap m = {0};
  m.h = h; m.w = w; m.c = c; m.ps = ps; m.esz = esz;
  m.rs = (w + 2 * halo) * ps;
  m.n = (size_t)((h + 2 * halo) * m.rs) + 64;
  m.mem = calloc(m.n, (size_t)esz);
  m.base = (char *)m.mem + (halo * m.rs + halo * ps) * esz;
  return m;
}
static _Float16 *h16(const BMap *m, I y, I x) { return (_Float16 *)m->base + y * m->rs + x * m->ps; }
static int8_t *s8(const BMap *m, I y, I x) { return (int8_t *)m->base + y * m->rs + x * m->ps; }

/* conv3x3F16Arith: fp16 input, weights and output, fp16 fused multiply-adds per kernel row
   (3 x cin terms), fp32 across rows and for bias and activation. Compared with a double-precision
   sum over the same fp16 inputs and weights, relative to |bias| + sum |w x| (+ |residual|).
   Bound 8u = 2^-8 (u = 2^-11, fp16's unit roundoff): the final rounding costs at most u/2 of
   |output| <= that magnitude, and the fp16 row sums of random-sign terms err by about
   u * sqrt(3 cin) of their magnitude in the worst observed case (measured ~1-2u for cin 64;
   the rigorous worst case, (3 cin) u, is 0.094 for cin 64 and would catch nothing). */
static void test_conv_f16(I cin, I cout, I h, I w, I stride, int epilogue, I in_extra, I out_extra) {
  static const char *epi_names[] = {"none", "relu", "leaky", "residual"};
  BMap in = bmap_new(h, w, cin, cin + in_extra, 1, 2);
  for (I y = 0; y < h; y++)
    for (I x = 0; x < w; x++)
      for (I c = 0; c < cin; c++) h16(&in, y, x)[c] = (_Float16)frnd(-1, 1);
  I oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
  BMap out = bmap_new(oh, ow, cout, cout + out_extra, 0, 2);
  for (size_t i = 0; i < out.n; i++) ((_Float16 *)out.mem)[i] = (_Float16)12345.0f;
  float *wt = malloc(sizeof(float) * cout * cin * 9), *bias = malloc(sizeof(float) * cout);
  for (I i = 0; i < cout * cin * 9; i++) wt[i] = (float)(_Float16)frnd(-0.3f, 0.3f);
  for (I i = 0; i < cout; i++) bias[i] = frnd(-0.5f, 0.5f);
  double *res = malloc(sizeof(double) * oh * ow * cout);
  for (I y = 0; y < oh; y++)
    for (I x = 0; x < ow; x++)
      for (I o = 0; o < cout; o++) {
        _Float16 r = (_Float16)frnd(-1, 1);
        if (epilogue == 3) h16(&out, y, x)[o] = r;
        res[(y * ow + x) * cout + o] = (double)r;
      }
  I nw = zsm_packed_weight_count(cin, cout, 9);
  float *pw = malloc(sizeof(float) * nw), *pb = malloc(sizeof(float) * zsm_packed_bias_count(cin, cout, 9));
  _Float16 *pw16 = malloc(2 * nw);
  zsm_pack(wt, bias, cin, cout, 9, pw, pb);
  for (I i = 0; i < nw; i++) pw16[i] = (_Float16)pw[i];
  zsm_conv_f16_arith((_Float16 *)in.base, h, w, cin, in.ps, in.rs, pw16, pb, cout, stride, epilogue,
                     (_Float16 *)out.base, oh, ow, out.ps, out.rs, oh / 2);
  double worst = 0;
  for (I y = 0; y < oh; y++)
    for (I x = 0; x < ow; x++)
      for (I o = 0; o < cout; o++) {
        double s = bias[o], mag = fabs((double)bias[o]);
        for (I i = 0; i < 3; i++)
          for (I j = 0; j < 3; j++) {
            I yy = y * stride - 1 + i, xx = x * stride - 1 + j;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            for (I c = 0; c < cin; c++) {
              double p = (double)wt[((o * cin + c) * 3 + i) * 3 + j] * (double)h16(&in, yy, xx)[c];
              s += p; mag += fabs(p);
            }
          }
        double r = res[(y * ow + x) * cout + o];
        double want = apply_epilogue(s, epilogue, r);
        if (epilogue == 3) mag += fabs(r);
        double e = fabs((double)h16(&out, y, x)[o] - want) / mag;
        if (!(e <= worst)) worst = e;
      }
  /* nothing outside the valid channels written */
  for (size_t i = 0; i < out.n; i++) {
    I r = (I)i - (I)(((_Float16 *)out.base) - (_Float16 *)out.mem);
    int inside = r >= 0 && r / out.rs < oh && (r % out.rs) / out.ps < ow && (r % out.rs) % out.ps < cout;
    if (!inside && ((_Float16 *)out.mem)[i] != (_Float16)12345.0f) worst = INFINITY;
  }
  char name[40], shape[64];
  snprintf(name, sizeof name, "convF16Arith_s%d_%s", (int)stride, epi_names[epilogue]);
  snprintf(shape, sizeof shape, "%ldx%ld %ld->%ld ps %ld/%ld (per magnitude)", (long)w, (long)h, (long)cin,
           (long)cout, (long)in.ps, (long)out.ps);
  report(name, shape, worst, ldexp(1.0, -8));
  free(in.mem); free(out.mem); free(wt); free(bias); free(res); free(pw); free(pb); free(pw16);
}

/* conv3x3Int8Dot. Activations: u8 code q = round(x / sa) + zp (zp 128: symmetric; zp 0: one-sided
   input in [0, 1]), stored as q - 128; weights: per output channel sw = max|w| / 127, qw =
   round(w / sw). Check 1 (exact, bound 0): every output equals fmaf((float)acc, sa * sw, bias)
   (then the activation) for the exact integer acc = sum qw * (q - zp), quantised here exactly as
   Int8DotWeights.pack does. Check 2 (dequantised): against the double-precision conv of the
   unquantised x and w, the error divided by the quantisation bound sum(|w| sa/2 + |x| sw/2 +
   sa sw/4) + 1e-6 (|bias| + sum |w x| + |r|) is at most 1. Epilogue 3 (residual): the output
   holds r in [-1, 1] before the call (the residual read in place), and the references add it
   after the dequantisation (the exact check: fmaf(...) + r in float, as the kernel). */
static void test_conv_int8(I cin, I cout, I h, I w, I stride, int epilogue, int zp, I in_extra, I out_extra) {
  static const char *epi_names[] = {"none", "relu", "leaky", "residual"};
  I oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
  float *x = malloc(sizeof(float) * h * w * cin);
  float lo = zp == 0 ? 0.0f : -1.0f, largest = 0;
  for (I i = 0; i < h * w * cin; i++) {
    x[i] = frnd(lo, 1);
    if (fabsf(x[i]) > largest) largest = fabsf(x[i]);
  }
  float sa = largest / (float)(zp == 0 ? 255 : zp < 128 ? zp : 255 - zp); /* no code clamps */
  BMap in = bmap_new(h, w, cin, cin + in_extra, 1, 1);
  memset(in.mem, zp - 128, in.n);
  int32_t *qa = malloc(sizeof(int32_t) * h * w * cin); /* q - zp */
  for (I y = 0; y < h; y++)
    for (I xx = 0; xx < w; xx++)
      for (I c = 0; c < cin; c++) {
        float v = roundf(x[(y * w + xx) * cin + c] / sa) + (float)zp;
        int q = v < 0 ? 0 : v > 255 ? 255 : (int)v;
        s8(&in, y, xx)[c] = (int8_t)(q - 128);
        qa[(y * w + xx) * cin + c] = q - zp;
      }
  float *wt = malloc(sizeof(float) * cout * cin * 9), *bias = malloc(sizeof(float) * cout);
  for (I i = 0; i < cout * cin * 9; i++) wt[i] = frnd(-0.3f, 0.3f);
  for (I i = 0; i < cout; i++) bias[i] = frnd(-0.5f, 0.5f);
  I wbytes = zsm_int8_dot_storage(cin, cout, 0), per = zsm_int8_dot_storage(cin, cout, 1);
  int8_t *pw = malloc(wbytes);
  int32_t *corr = malloc(sizeof(int32_t) * per);
  float *oscale = malloc(sizeof(float) * per), *pb = malloc(sizeof(float) * per);
  zsm_int8_dot_pack(wt, bias, cin, cout, sa, zp, pw, corr, oscale, pb);
  BMap out = bmap_new(oh, ow, cout, cout + out_extra, 0, 4);
  for (size_t i = 0; i < out.n; i++) ((float *)out.mem)[i] = 12345.0f;
  float *res = malloc(sizeof(float) * oh * ow * cout);
  for (I i = 0; i < oh * ow * cout; i++) res[i] = frnd(-1, 1);
  if (epilogue == 3)
    for (I y = 0; y < oh; y++)
      for (I xx = 0; xx < ow; xx++)
        for (I o = 0; o < cout; o++) ((float *)out.base)[y * out.rs + xx * out.ps + o] = res[(y * ow + xx) * cout + o];
  zsm_conv_int8_dot((int8_t *)in.base, h, w, cin, in.ps, in.rs, pw, corr, oscale, pb, cout, stride, epilogue,
                    (float *)out.base, oh, ow, out.ps, out.rs, oh / 2);
  float *sw = malloc(sizeof(float) * cout);
  int32_t *qw = malloc(sizeof(int32_t) * cout * cin * 9);
  for (I o = 0; o < cout; o++) {
    float m = 0;
    for (I i = 0; i < cin * 9; i++) if (fabsf(wt[o * cin * 9 + i]) > m) m = fabsf(wt[o * cin * 9 + i]);
    sw[o] = m > 0 ? m / 127.0f : 1.0f;
    for (I i = 0; i < cin * 9; i++) {
      float q = roundf(wt[o * cin * 9 + i] / sw[o]);
      qw[o * cin * 9 + i] = q < -127 ? -127 : q > 127 ? 127 : (int32_t)q;
    }
  }
  double exact_worst = 0, deq_worst = 0;
  for (I y = 0; y < oh; y++)
    for (I xx = 0; xx < ow; xx++)
      for (I o = 0; o < cout; o++) {
        int64_t acc = 0;
        double s = bias[o], mag = fabs((double)bias[o]), qb = 0;
        for (I i = 0; i < 3; i++)
          for (I j = 0; j < 3; j++) {
            I yy = y * stride - 1 + i, xj = xx * stride - 1 + j;
            if (yy < 0 || yy >= h || xj < 0 || xj >= w) continue;
            for (I c = 0; c < cin; c++) {
              I k = (o * cin + c) * 9 + i * 3 + j;
              double xv = x[(yy * w + xj) * cin + c], wv = wt[k];
              acc += (int64_t)qw[k] * qa[(yy * w + xj) * cin + c];
              s += wv * xv; mag += fabs(wv * xv);
              qb += fabs(wv) * sa / 2 + fabs(xv) * sw[o] / 2 + sa * sw[o] / 4;
            }
          }
        float v = fmaf((float)(int32_t)acc, sa * sw[o], bias[o]);
        if (epilogue == 1 && v < 0) v = 0;
        if (epilogue == 2 && v < 0) v = v * 0.1f;
        double r = epilogue == 3 ? res[(y * ow + xx) * cout + o] : 0;
        if (epilogue == 3) v = v + (float)r;
        mag += fabs(r);
        float got = ((float *)out.base)[y * out.rs + xx * out.ps + o];
        double e1 = fabs((double)got - (double)v);
        if (!(e1 <= exact_worst)) exact_worst = e1;
        double want = apply_epilogue(s, epilogue, r);
        double e2 = fabs((double)got - want) / (qb + 1e-6 * mag);
        if (!(e2 <= deq_worst)) deq_worst = e2;
      }
  for (size_t i = 0; i < out.n; i++) {
    I r = (I)i - (I)(((float *)out.base) - (float *)out.mem);
    int inside = r >= 0 && r / out.rs < oh && (r % out.rs) / out.ps < ow && (r % out.rs) % out.ps < cout;
    if (!inside && ((float *)out.mem)[i] != 12345.0f) exact_worst = INFINITY;
  }
  char name[40], shape[64];
  snprintf(name, sizeof name, "convInt8Dot_s%d_%s", (int)stride, epi_names[epilogue]);
  snprintf(shape, sizeof shape, "%ldx%ld %ld->%ld zp %d ps %ld/%ld exact", (long)w, (long)h, (long)cin, (long)cout, zp,
           (long)in.ps, (long)out.ps);
  report(name, shape, exact_worst, 0);
  snprintf(shape, sizeof shape, "%ldx%ld %ld->%ld zp %d (/ quant. bound)", (long)w, (long)h, (long)cin, (long)cout,
           zp);
  report(name, shape, deq_worst, 1.0);
  free(x); free(in.mem); free(qa); free(wt); free(bias); free(pw); free(corr); free(oscale); free(pb); free(out.mem);
  free(sw); free(qw); free(res);
}

/* `selftest count KERNEL REPS` (run.sh's instruction count): sets up one 64->64 3x3 convolution of
   a 16x12 map with LeakyReLU and runs it REPS times; KERNEL 0: fp32 conv3x3, 1: conv3x3F16Arith,
   2: conv3x3Int8Dot. The difference between REPS 2 and 1 under qemu is one kernel call. */
enum { BENCH_C = 64, BENCH_W = 16, BENCH_H = 12 };
static int bench(int kernel, int reps) {
  const I c = BENCH_C, w = BENCH_W, h = BENCH_H;
  float *wt = malloc(sizeof(float) * c * c * 9), *bias = malloc(sizeof(float) * c);
  for (I i = 0; i < c * c * 9; i++) wt[i] = frnd(-0.3f, 0.3f);
  for (I i = 0; i < c; i++) bias[i] = frnd(-0.5f, 0.5f);
  I nw = zsm_packed_weight_count(c, c, 9);
  float *pw = malloc(sizeof(float) * nw), *pb = malloc(sizeof(float) * zsm_packed_bias_count(c, c, 9));
  zsm_pack(wt, bias, c, c, 9, pw, pb);
  if (kernel == 0) {
    Map in = map_new(h, w, c, c, 1), out = map_new(h, w, c, c, 0);
    map_fill(&in, -1, 1);
    for (int r = 0; r < reps; r++)
      zsm_conv(in.base, h, w, c, c, in.rs, pw, pb, c, 3, 1, 2, out.base, h, w, c, out.rs, h / 2);
  } else if (kernel == 1) {
    BMap in = bmap_new(h, w, c, c, 1, 2), out = bmap_new(h, w, c, c, 0, 2);
    for (I y = 0; y < h; y++)
      for (I x = 0; x < w; x++)
        for (I k = 0; k < c; k++) h16(&in, y, x)[k] = (_Float16)frnd(-1, 1);
    _Float16 *pw16 = malloc(2 * nw);
    for (I i = 0; i < nw; i++) pw16[i] = (_Float16)pw[i];
    for (int r = 0; r < reps; r++)
      zsm_conv_f16_arith((_Float16 *)in.base, h, w, c, c, in.rs, pw16, pb, c, 1, 2, (_Float16 *)out.base, h, w, c,
                         out.rs, h / 2);
  } else {
    BMap in = bmap_new(h, w, c, c, 1, 1), out = bmap_new(h, w, c, c, 0, 4);
    for (I y = 0; y < h; y++)
      for (I x = 0; x < w; x++)
        for (I k = 0; k < c; k++) s8(&in, y, x)[k] = (int8_t)(rnd() % 255 - 127);
    int8_t *w8 = malloc(zsm_int8_dot_storage(c, c, 0));
    I per = zsm_int8_dot_storage(c, c, 1);
    int32_t *corr = malloc(sizeof(int32_t) * per);
    float *os = malloc(sizeof(float) * per), *ob = malloc(sizeof(float) * per);
    zsm_int8_dot_pack(wt, bias, c, c, 1.0f / 127, 128, w8, corr, os, ob);
    for (int r = 0; r < reps; r++)
      zsm_conv_int8_dot((int8_t *)in.base, h, w, c, c, in.rs, w8, corr, os, ob, c, 1, 2, (float *)out.base, h, w, c,
                        out.rs, h / 2);
  }
  printf("count: kernel %d, %d run(s), %d output elements\n", kernel, reps, BENCH_C * BENCH_W * BENCH_H);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 4 && strcmp(argv[1], "count") == 0) return bench(atoi(argv[2]), atoi(argv[3]));
#if defined(__aarch64__) && defined(__linux__)
  unsigned long hw = getauxval(AT_HWCAP);
  printf("aarch64 HWCAP: asimd=%d fphp=%d asimdhp=%d asimddp=%d\n", !!(hw & HWCAP_ASIMD), !!(hw & HWCAP_FPHP),
         !!(hw & HWCAP_ASIMDHP), !!(hw & HWCAP_ASIMDDP));
#endif
  /* conv: every epilogue, stride 1 and 2, 1x1; output blocks of 64, 32 and 16 (and a padded
     partial block), widths below and above the 6- and 12-pixel micro-kernel tiles. */
  for (int e = 0; e < 4; e++) {
    test_conv(5, 216, 7, 13, 3, 1, e, 0, 0);
    test_conv(16, 19, 5, 14, 3, 2, e, 3, 5);
    test_conv(13, 48, 4, 9, 1, 1, e, 1, 0);
  }
  test_conv(64, 64, 3, 25, 3, 1, 0, 0, 0);
  test_conv(64, 64, 5, 11, 3, 2, 2, 0, 0);
  test_conv(3, 64, 9, 17, 3, 1, 2, 0, 0);
  test_conv(64, 3, 6, 7, 3, 1, 0, 0, 0);
  test_conv(128, 64, 2, 13, 1, 1, 2, 0, 64);
  test_conv(7, 80, 1, 1, 3, 1, 3, 0, 0);
  test_conv(8, 16, 2, 2, 3, 2, 1, 0, 0);
  /* deformable: 8 groups of 8 (the model), 16-channel groups, the generic path; offsets push
     taps outside the map. */
  test_deform(64, 8, 64, 5, 9, 2.5f, 48, 0);
  test_deform(64, 8, 64, 4, 13, 6.0f, 6, 2);
  test_deform(32, 2, 24, 3, 7, 2.0f, 5, 0);
  test_deform(12, 4, 16, 4, 5, 1.5f, 48, 2);
  test_deform(8, 8, 8, 3, 3, 30.0f, 2, 0);
  test_upsample(64, 5, 7, 2.0f);
  test_upsample(19, 3, 4, 1.0f);
  test_upsample(1, 1, 1, -0.5f);
  test_shuffle(64, 3, 5, 1);
  test_shuffle(3, 4, 3, 0);
  test_shuffle(21, 2, 2, 1);
  for (I which = 0; which < 3; which++) { test_pointwise(which, 37, 3, 5); test_pointwise(which, 16, 2, 2); }
  test_scale_add(64, 3, 3);
  test_scale_add(21, 2, 5);
  test_lstm(64, 3, 4);
  test_lstm(13, 2, 3);
  test_peak();
  test_fp16_probe(8 * 37 + 5);
  /* reduced precision (issue 7): 64 channels (the model), channel tails (8 + 5; 16 + 4), output
     blocks with a partial last block, tile tails (widths not multiples of 6 or 4), stride 2,
     padded pixel strides, every epilogue. */
  for (int e = 0; e < 4; e++) test_conv_f16(64, 64, 4, 13, 1, e, 0, 0);
  test_conv_f16(13, 24, 5, 7, 1, 2, 3, 1);
  test_conv_f16(64, 40, 5, 11, 2, 1, 8, 0);
  test_conv_f16(8, 3, 3, 2, 1, 0, 0, 0);
  test_conv_f16(5, 16, 3, 9, 1, 1, 0, 0); /* dense rows of 15 halves: 8 + 7 single channels */
  for (int e = 0; e < 4; e++) test_conv_int8(64, 64, 4, 11, 1, e, 128, 0, 0);
  test_conv_int8(20, 24, 5, 7, 2, 3, 37, 4, 3); /* residual: partial block, stride 2, padded strides */
  test_conv_int8(64, 64, 5, 9, 1, 2, 0, 0, 0);
  test_conv_int8(20, 24, 5, 7, 1, 1, 128, 4, 3);
  test_conv_int8(64, 48, 6, 9, 2, 2, 0, 16, 0);
  test_conv_int8(4, 3, 3, 2, 1, 0, 100, 0, 0);
  test_conv_int8(16, 16, 3, 6, 1, 0, 128, 0, 0); /* dense rows of 48 bytes: 32 + 16 */
  test_conv_int8(12, 32, 2, 5, 1, 2, 128, 0, 0); /* dense rows of 36 bytes: 32 + 4 */
  printf("%s (%d checks, %d failure%s)\n", failures ? "FAIL" : "ALL PASS", checks, failures,
         failures == 1 ? "" : "s");
  return failures != 0;
}
