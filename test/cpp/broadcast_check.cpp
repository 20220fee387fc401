// Prints, one JSON line per case, how csrc/broadcast.h broadcasts and merges a set of views, for
// test/broadcast.test.ts. Built there with g++ -std=c++17 -I csrc.
#include <cstdio>
#include <initializer_list>
#include <string>
#include <vector>

#include "broadcast.h"

using et::View;

View view(std::initializer_list<int64_t> shape, std::initializer_list<int64_t> strides) {
  View v;
  v.ndim = int(shape.size());
  int d = 0;
  for (int64_t s : shape) v.shape[d++] = s;
  d = 0;
  for (int64_t s : strides) v.strides[d++] = s;
  return v;
}

// Row-major strides of a shape.
View contiguous(std::initializer_list<int64_t> shape) {
  View v = view(shape, {});
  int64_t s = 1;
  for (int d = v.ndim - 1; d >= 0; --d) {
    v.strides[d] = s;
    s *= v.shape[d];
  }
  return v;
}

std::string list(const int64_t* x, int n) {
  std::string s = "[";
  for (int i = 0; i < n; ++i) s += (i ? "," : "") + std::to_string(x[i]);
  return s + "]";
}

void report(const char* name, const View& out, std::vector<View> ins) {
  std::vector<const View*> ptrs;
  for (const View& v : ins) ptrs.push_back(&v);
  et::Broadcast<4> it;
  std::string err = et::broadcast_elementwise(out, ptrs.data(), int(ptrs.size()), &it);
  std::string strides = "[";
  for (int t = 0; err.empty() && t < it.n; ++t) strides += (t ? "," : "") + list(it.strides[t], it.ndim);
  std::printf("{\"case\":\"%s\",\"error\":\"%s\",\"shape\":%s,\"strides\":%s],\"contiguous\":%s}\n", name, err.c_str(),
              err.empty() ? list(it.shape, it.ndim).c_str() : "[]", strides.c_str(),
              err.empty() && it.contiguous(1) ? "true" : "false");
}

int main() {
  report("contiguous", contiguous({2, 3, 4}), {contiguous({2, 3, 4})});
  report("bias", contiguous({2, 3, 4}), {contiguous({2, 3, 4}), contiguous({4})});
  report("column", contiguous({4, 3, 5}), {contiguous({4, 3, 5}), view({3, 1}, {1, 1})});
  report("expanded", contiguous({2, 3, 4}), {contiguous({2, 3, 4}), view({2, 3, 4}, {0, 0, 1})});
  report("transposed", contiguous({3, 2}), {view({3, 2}, {1, 3})});
  report("rows of a wider buffer", contiguous({2, 3}), {view({2, 3}, {5, 1})});
  report("size-1 dims", contiguous({1, 5, 1, 2}), {view({1, 5, 1, 2}, {99, 2, 99, 1})});
  report("all ones", contiguous({1, 1}), {contiguous({1})});
  report("scalar", view({}, {}), {view({}, {})});
  report("mismatch", contiguous({4}), {contiguous({3})});
  report("more dims than the output", contiguous({2, 3}), {contiguous({1, 2, 3})});
  report("zero output stride", view({2, 3}, {0, 1}), {contiguous({2, 3})});
  return 0;
}
