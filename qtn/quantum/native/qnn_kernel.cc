// The paper's per-token QNN (qtn.quantum.circuit.qnn_circuit) as two XLA:CPU FFI kernels:
// exact <Z_i> of every token's circuit, and its adjoint-method backward.
//
//   qtn_qnn_z:     h (B, n) f32, w (L*4*n,) f32                  -> z (B, n) f32
//   qtn_qnn_z_vjp: h (B, n), w (L*4*n,), gz (B, n)               -> dh (B, n), dw (L*4*n,)
//
// Circuit, per layer l (weights w[l][k][i], k = 0 CRZ ring, 1 RY, 2 CRZ reverse ring, 3 RY):
//   RY(h_i) on qubit i; CRZ(w[l][0][i]) control i, target i+1 mod n; RY(w[l][1][i]);
//   CRZ(w[l][2][i]) control i, target i-1 mod n; RY(w[l][3][i]).
// Qubit 0 is the most significant bit of a basis index. RY(a) = [[c, -s], [s, c]] with
// c = cos(a/2), s = sin(a/2); CRZ(t) multiplies |b> by exp(i t/2 (2 b_target - 1)) when
// b_control = 1, so each CRZ ring is one diagonal phase over the 2^n basis states.
//
// Layout: tokens are processed in blocks of W lanes; a block's state is 2^n vectors of W
// floats for the real and for the imaginary part (one SIMD vector per amplitude), so every
// gate is vertical SIMD across tokens with no shuffles, and a block's state (32 KiB at n = 8)
// stays in L1/L2 through the whole circuit. A layer's final RY and the next layer's encoding
// RY act on the same qubits back to back and are merged: RY(h_i + w[l-1][3][i]).
//
// The backward recomputes the forward per block (cheaper than storing 2^n amplitudes per
// token), then walks the gates backwards, uncomputing the state with each inverse gate while
// carrying the cotangent lam = dL/dpsi (real and imaginary parts):
//   RY angle a:   dL/da = 1/2 sum_pairs (lam_1 . psi_0 - lam_0 . psi_1)   (psi, lam after)
//   phase phi(b): dL/dphi(b) = lam_im psi_re - lam_re psi_im             (psi, lam after)
// with dphi(b)/dt = b_control (2 b_target - 1) / 2 for a CRZ angle t. Token blocks are
// shared out over XLA's intra-op thread pool.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

constexpr int W = 16;
typedef float vf __attribute__((vector_size(W * sizeof(float))));

inline vf splat(float x) {
  vf v;
  for (int j = 0; j < W; ++j) v[j] = x;
  return v;
}

inline float lane_sum(vf v) {
  float s = 0.f;
  for (int j = 0; j < W; ++j) s += v[j];
  return s;
}

// Token-independent tables of one call: the CRZ rings' phases and the shared RY angles.
struct Tables {
  int n, layers, dim;
  const float* w;
  std::vector<float> cos_ring, sin_ring;  // [2 * layers][dim]: ring k = 0 / 1 of layer l
  std::vector<float> ry_c, ry_s;          // [layers][n]: the middle RY w[l][1]
  std::vector<float> end_c, end_s;        // [n]: the last layer's final RY w[L-1][3]

  Tables(int n_, int layers_, const float* w_) : n(n_), layers(layers_), dim(1 << n_), w(w_) {
    cos_ring.resize(2 * layers * dim);
    sin_ring.resize(2 * layers * dim);
    for (int l = 0; l < layers; ++l) {
      for (int ring = 0; ring < 2; ++ring) {
        const float* t = w + (l * 4 + 2 * ring) * n;
        for (int b = 0; b < dim; ++b) {
          double phi = 0.0;
          for (int i = 0; i < n; ++i) phi += t[i] * coef(ring, i, b);
          cos_ring[(2 * l + ring) * dim + b] = static_cast<float>(std::cos(phi));
          sin_ring[(2 * l + ring) * dim + b] = static_cast<float>(std::sin(phi));
        }
      }
    }
    ry_c.resize(layers * n);
    ry_s.resize(layers * n);
    for (int l = 0; l < layers; ++l)
      for (int i = 0; i < n; ++i) {
        ry_c[l * n + i] = std::cos(0.5f * w[(l * 4 + 1) * n + i]);
        ry_s[l * n + i] = std::sin(0.5f * w[(l * 4 + 1) * n + i]);
      }
    end_c.resize(n);
    end_s.resize(n);
    for (int i = 0; i < n; ++i) {
      end_c[i] = std::cos(0.5f * w[((layers - 1) * 4 + 3) * n + i]);
      end_s[i] = std::sin(0.5f * w[((layers - 1) * 4 + 3) * n + i]);
    }
  }

  int bit(int q, int b) const { return (b >> (n - 1 - q)) & 1; }

  // dphi(b) / dt_i of CRZ i in ring 0 (target i+1) or ring 1 (target i-1).
  float coef(int ring, int i, int b) const {
    int target = ring == 0 ? (i + 1) % n : (i - 1 + n) % n;
    return bit(i, b) ? 0.5f * (2 * bit(target, b) - 1) : 0.f;
  }

  int stride(int q) const { return 1 << (n - 1 - q); }
};

// (a, b) <- RY(angle) (a, b) for one pair, c = cos(angle/2), s = sin(angle/2); unrotate undoes it.
inline void rotate(vf& a, vf& b, vf c, vf s) {
  vf x = a;
  a = c * x - s * b;
  b = s * x + c * b;
}

// (r, i) <- (r + i i) exp(i phi), c = cos phi, s = sin phi; unphase undoes it.
inline void phase(vf& r, vf& i, vf c, vf s) {
  vf x = r;
  r = x * c - i * s;
  i = x * s + i * c;
}

// RY on qubit q (pairs k, k + stride) of one block's state; im skipped while the state is real.
inline void apply_ry(vf* re, vf* im, bool cplx, int dim, int stride, vf c, vf s) {
  for (int hi = 0; hi < dim; hi += 2 * stride)
    for (int k = hi; k < hi + stride; ++k) {
      rotate(re[k], re[k + stride], c, s);
      if (cplx) rotate(im[k], im[k + stride], c, s);
    }
}

// A diagonal phase on every amplitude (im is zero, not skipped, while the state is real).
inline void apply_phase(vf* re, vf* im, int dim, const float* cs, const float* sn) {
  for (int k = 0; k < dim; ++k) phase(re[k], im[k], splat(cs[k]), splat(sn[k]));
}

// out[r, i] = v[i][lane] for the block's rows r = row0 + lane < rows: (rows, n) row-major.
inline void store_lanes(const vf* v, int n, int64_t rows, int64_t row0, float* out) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < W; ++j)
      if (row0 + j < rows) out[(row0 + j) * n + i] = v[i][j];
}

// v[i][lane] = in[row0 + lane, i], zero in the lanes past the last row.
inline void load_lanes(const float* in, int n, int64_t rows, int64_t row0, vf* v) {
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < W; ++j) v[i][j] = row0 + j < rows ? in[(row0 + j) * n + i] : 0.f;
}

// The encoding angles of layer l for the lanes of one block: h_i (+ w[l-1][3][i], merged).
inline void encoding(const Tables& t, const float* h, int64_t rows, int64_t row0, int l, int i,
                     vf* c, vf* s) {
  for (int j = 0; j < W; ++j) {
    int64_t r = row0 + j;
    float a = r < rows ? h[r * t.n + i] : 0.f;
    if (l > 0) a += t.w[((l - 1) * 4 + 3) * t.n + i];
    (*c)[j] = std::cos(0.5f * a);
    (*s)[j] = std::sin(0.5f * a);
  }
}

// U|0...0> for the block of tokens starting at row0; enc: (layers * n * 2) vectors, filled with
// each encoding RY's (cos, sin) for the backward.
void forward_block(const Tables& t, const float* h, int64_t rows, int64_t row0, vf* re, vf* im,
                   vf* enc) {
  const int dim = t.dim, n = t.n;
  for (int k = 0; k < dim; ++k) re[k] = im[k] = splat(0.f);
  re[0] = splat(1.f);
  bool cplx = false;
  for (int l = 0; l < t.layers; ++l) {
    for (int i = 0; i < n; ++i) {
      vf* cs = enc + 2 * (l * n + i);
      encoding(t, h, rows, row0, l, i, cs, cs + 1);
      apply_ry(re, im, cplx, dim, t.stride(i), cs[0], cs[1]);
    }
    apply_phase(re, im, dim, &t.cos_ring[(2 * l) * dim], &t.sin_ring[(2 * l) * dim]);
    cplx = true;
    for (int i = 0; i < n; ++i)
      apply_ry(re, im, true, dim, t.stride(i), splat(t.ry_c[l * n + i]),
               splat(t.ry_s[l * n + i]));
    apply_phase(re, im, dim, &t.cos_ring[(2 * l + 1) * dim],
                &t.sin_ring[(2 * l + 1) * dim]);
  }
  for (int i = 0; i < n; ++i)
    apply_ry(re, im, true, dim, t.stride(i), splat(t.end_c[i]), splat(t.end_s[i]));
}

// (a, b) <- RY(-angle) (a, b), the inverse of one RY pair, c = cos(angle/2), s = sin(angle/2).
inline void unrotate(vf& a, vf& b, vf c, vf s) {
  vf x = a;
  a = c * x + s * b;
  b = c * b - s * x;
}

// One RY's gradient (per lane) from the state and cotangent after it, then both uncomputed.
inline vf reverse_ry(vf* re, vf* im, vf* lre, vf* lim, int dim, int stride, vf c, vf s) {
  vf g = splat(0.f);
  for (int hi = 0; hi < dim; hi += 2 * stride)
    for (int k = hi; k < hi + stride; ++k) {
      const int m = k + stride;
      g += lre[m] * re[k] + lim[m] * im[k] - lre[k] * re[m] - lim[k] * im[m];
      unrotate(re[k], re[m], c, s);
      unrotate(im[k], im[m], c, s);
      unrotate(lre[k], lre[m], c, s);
      unrotate(lim[k], lim[m], c, s);
    }
  return 0.5f * g;
}

// (r, i) <- (r + i i) exp(-i phi), the inverse of one phase, c = cos phi, s = sin phi.
inline void unphase(vf& r, vf& i, vf c, vf s) {
  vf x = r;
  r = x * c + i * s;
  i = i * c - x * s;
}

// A phase's per-basis-state gradient accumulated into acc (per lane), then both uncomputed.
inline void reverse_phase(vf* re, vf* im, vf* lre, vf* lim, int dim, const float* cs,
                          const float* sn, vf* acc) {
  for (int k = 0; k < dim; ++k) {
    acc[k] += lim[k] * re[k] - lre[k] * im[k];
    vf c = splat(cs[k]), s = splat(sn[k]);
    unphase(re[k], im[k], c, s);
    unphase(lre[k], lim[k], c, s);
  }
}

// Per-worker gradient sums of the weights (per lane: summed over lanes at the end).
struct Partial {
  std::vector<vf> ry;    // [layers][4][n]: entries k = 1, 3 used (k = 0, 2 stay zero)
  std::vector<vf> ring;  // [2 * layers][dim]
  explicit Partial(const Tables& t)
      : ry(t.layers * 4 * t.n, splat(0.f)), ring(2 * t.layers * t.dim, splat(0.f)) {}
};

void backward_block(const Tables& t, const float* h, const float* gz, int64_t rows, int64_t row0,
                    float* dh, Partial& part, std::vector<vf>& buf) {
  const int dim = t.dim, n = t.n, L = t.layers;
  vf *re = buf.data(), *im = re + dim, *lre = im + dim, *lim = lre + dim, *enc = lim + dim;
  forward_block(t, h, rows, row0, re, im, enc);
  // lam = dL/dpsi = 2 psi sum_i gz_i (1 - 2 b_i)
  vf g[16];
  load_lanes(gz, n, rows, row0, g);
  for (int b = 0; b < dim; ++b) {
    vf wgt = splat(0.f);
    for (int i = 0; i < n; ++i) wgt += t.bit(i, b) ? -g[i] : g[i];
    lre[b] = 2.f * wgt * re[b];
    lim[b] = 2.f * wgt * im[b];
  }
  vf dh_acc[16];
  for (int i = 0; i < n; ++i) dh_acc[i] = splat(0.f);
  for (int i = n - 1; i >= 0; --i)
    part.ry[((L - 1) * 4 + 3) * n + i] += reverse_ry(re, im, lre, lim, dim, t.stride(i),
                                                     splat(t.end_c[i]), splat(t.end_s[i]));
  for (int l = L - 1; l >= 0; --l) {
    reverse_phase(re, im, lre, lim, dim, &t.cos_ring[(2 * l + 1) * dim],
                  &t.sin_ring[(2 * l + 1) * dim], &part.ring[(2 * l + 1) * dim]);
    for (int i = n - 1; i >= 0; --i)
      part.ry[(l * 4 + 1) * n + i] += reverse_ry(re, im, lre, lim, dim, t.stride(i),
                                                 splat(t.ry_c[l * n + i]),
                                                 splat(t.ry_s[l * n + i]));
    reverse_phase(re, im, lre, lim, dim, &t.cos_ring[(2 * l) * dim], &t.sin_ring[(2 * l) * dim],
                  &part.ring[(2 * l) * dim]);
    for (int i = n - 1; i >= 0; --i) {
      const vf* cs = enc + 2 * (l * n + i);
      vf ga = reverse_ry(re, im, lre, lim, dim, t.stride(i), cs[0], cs[1]);
      dh_acc[i] += ga;
      if (l > 0) part.ry[((l - 1) * 4 + 3) * n + i] += ga;
    }
  }
  store_lanes(dh_acc, n, rows, row0, dh);
}

void z_block(const Tables& t, int64_t rows, int64_t row0, const vf* re, const vf* im, float* z) {
  const int n = t.n;
  vf acc[16];
  for (int i = 0; i < n; ++i) acc[i] = splat(0.f);
  for (int b = 0; b < t.dim; ++b) {
    vf p = re[b] * re[b] + im[b] * im[b];
    for (int i = 0; i < n; ++i) acc[i] += t.bit(i, b) ? -p : p;
  }
  store_lanes(acc, n, rows, row0, z);
}

// Runs work(worker, block) for every block on the calling thread and the pool's threads
// (blocks claimed from a shared counter); returns when every block is done. Late tasks that
// find no block left touch only the shared state they own a reference to.
template <typename Work>
int parallel_blocks(ffi::ThreadPool& pool, int64_t blocks, int max_workers, Work work) {
  struct Shared {
    std::atomic<int64_t> next{0}, done{0};
    std::atomic<int> slots{0};
    std::mutex mu;
    std::condition_variable cv;
  };
  auto shared = std::make_shared<Shared>();
  auto run = [shared, blocks, max_workers, &work]() {
    int64_t b = shared->next.fetch_add(1);
    if (b >= blocks) return;
    int slot = shared->slots.fetch_add(1);
    if (slot >= max_workers) return;  // never: at most max_workers runners exist
    int64_t finished = 0;
    for (; b < blocks; b = shared->next.fetch_add(1)) {
      work(slot, b);
      ++finished;
    }
    if (shared->done.fetch_add(finished) + finished == blocks) {
      std::lock_guard<std::mutex> lock(shared->mu);
      shared->cv.notify_all();
    }
  };
  int helpers = static_cast<int>(std::min<int64_t>(max_workers - 1, blocks - 1));
  for (int k = 0; k < helpers; ++k) {
    // a helper that starts after every block was claimed returns without touching `work`
    pool.Schedule([run]() { run(); });
  }
  run();
  std::unique_lock<std::mutex> lock(shared->mu);
  shared->cv.wait(lock, [&] { return shared->done.load() == blocks; });
  return std::min<int>(shared->slots.load(), max_workers);
}

int worker_count(ffi::ThreadPool& pool) {
  return static_cast<int>(std::max<int64_t>(1, pool.num_threads()) + 1);
}

ffi::Error check(int64_t n, int64_t layers, int64_t n_weights) {
  if (n < 2 || n > 14)
    return ffi::Error::InvalidArgument("qtn_qnn: n must be in [2, 14], got " + std::to_string(n));
  if (layers < 1 || n_weights != layers * 4 * n)
    return ffi::Error::InvalidArgument("qtn_qnn: expected " + std::to_string(layers * 4 * n) +
                                       " weights, got " + std::to_string(n_weights));
  return ffi::Error::Success();
}

ffi::Error QnnZ(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> h, ffi::Buffer<ffi::F32> w,
                ffi::ResultBuffer<ffi::F32> z, int64_t layers) {
  auto dims = h.dimensions();
  const int64_t rows = dims[0], n = dims[1];
  if (auto err = check(n, layers, w.element_count()); err.failure()) return err;
  Tables t(static_cast<int>(n), static_cast<int>(layers), w.typed_data());
  const int64_t blocks = (rows + W - 1) / W;
  if (blocks == 0) return ffi::Error::Success();
  const int workers = worker_count(pool);
  std::vector<std::vector<vf>> bufs(workers, std::vector<vf>(2 * t.dim + 2 * layers * n));
  const float* hp = h.typed_data();
  float* zp = z->typed_data();
  parallel_blocks(pool, blocks, workers, [&](int slot, int64_t b) {
    vf* re = bufs[slot].data();
    forward_block(t, hp, rows, b * W, re, re + t.dim, re + 2 * t.dim);
    z_block(t, rows, b * W, re, re + t.dim, zp);
  });
  return ffi::Error::Success();
}

ffi::Error QnnZVjp(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> h, ffi::Buffer<ffi::F32> w,
                   ffi::Buffer<ffi::F32> gz, ffi::ResultBuffer<ffi::F32> dh,
                   ffi::ResultBuffer<ffi::F32> dw, int64_t layers) {
  auto dims = h.dimensions();
  const int64_t rows = dims[0], n = dims[1];
  if (auto err = check(n, layers, w.element_count()); err.failure()) return err;
  Tables t(static_cast<int>(n), static_cast<int>(layers), w.typed_data());
  float* dwp = dw->typed_data();
  std::fill(dwp, dwp + w.element_count(), 0.f);
  const int64_t blocks = (rows + W - 1) / W;
  if (blocks == 0) return ffi::Error::Success();
  const int workers = worker_count(pool);
  std::vector<std::vector<vf>> bufs(workers, std::vector<vf>(4 * t.dim + 2 * layers * n));
  std::vector<Partial> parts(workers, Partial(t));
  const float *hp = h.typed_data(), *gp = gz.typed_data();
  float* dhp = dh->typed_data();
  int used = parallel_blocks(pool, blocks, workers, [&](int slot, int64_t b) {
    backward_block(t, hp, gp, rows, b * W, dhp, parts[slot], bufs[slot]);
  });
  const int L = t.layers, dim = t.dim;
  std::vector<float> ring(2 * L * dim, 0.f);  // dL/dphi(b) of each ring, over every token
  for (int s = 0; s < used; ++s) {
    const Partial& p = parts[s];
    for (size_t k = 0; k < p.ry.size(); ++k) dwp[k] += lane_sum(p.ry[k]);  // RY slots; CRZ: 0
    for (size_t k = 0; k < ring.size(); ++k) ring[k] += lane_sum(p.ring[k]);
  }
  for (int l = 0; l < L; ++l)
    for (int r = 0; r < 2; ++r)
      for (int i = 0; i < n; ++i) {
        float acc = 0.f;
        for (int b = 0; b < dim; ++b) acc += t.coef(r, i, b) * ring[(2 * l + r) * dim + b];
        dwp[(l * 4 + 2 * r) * n + i] += acc;
      }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(QtnQnnZ, QnnZ,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("layers"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(QtnQnnZVjp, QnnZVjp,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("layers"));
