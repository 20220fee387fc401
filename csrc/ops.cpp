#include "ops.h"

#include <string>

#include "backend.h"

namespace et {

const char* op_name(int op) { return (op >= 0 && op < OP_COUNT) ? kOpSchema[op].name : "?"; }
int op_inputs(int op) { return (op >= 0 && op < OP_COUNT) ? kOpSchema[op].n_in : 0; }
int op_outputs(int op) { return (op >= 0 && op < OP_COUNT) ? kOpSchema[op].n_out : 0; }

namespace {
std::string dtype_list(uint32_t mask) {
  std::string s;
  for (int d = 0; d < ET_DTYPE_COUNT; ++d)
    if (mask & (1u << d)) s += (s.empty() ? "" : " or ") + std::string(dtype_name(d));
  return s;
}
}  // namespace

std::string op_check(const Call& c) {
  if (c.op < 0 || c.op >= OP_COUNT) return "ValueError: unknown op id " + std::to_string(c.op);
  const OpSchema& s = kOpSchema[c.op];
  if (c.n_in < s.n_in_min || c.n_in > s.n_in || c.n_out != s.n_out)
    return std::string("ValueError: ") + s.name + ": called with " + std::to_string(c.n_in) + " inputs and " +
           std::to_string(c.n_out) + " outputs; it takes " +
           (s.n_in_min == s.n_in ? std::to_string(s.n_in) : std::to_string(s.n_in_min) + " to " + std::to_string(s.n_in)) +
           " inputs and " + std::to_string(s.n_out) + " outputs";
  for (int i = 0; i < c.n_in + c.n_out; ++i) {
    // outputs follow the declared inputs in kOpOperands, even when optional inputs are left out
    const OpOperand& o = kOpOperands[s.operand + (i < c.n_in ? i : s.n_in + i - c.n_in)];
    int dt = c.t[i].dtype;
    if (dt < 0 || dt >= ET_DTYPE_COUNT || !(o.dtypes & (1u << dt)))
      return std::string("DTypeError: ") + s.name + ": " + (i < c.n_in ? "input " : "output ") + o.name + " must be " +
             dtype_list(o.dtypes) + ", got " + dtype_name(dt);
  }
  return "";
}

std::string call_signature(const Call& c) {
  auto view = [](const View& v) {
    std::string s = std::string(dtype_name(v.dtype)) + "[";
    for (int d = 0; d < v.ndim; ++d) s += (d ? "," : "") + std::to_string(v.shape[d]);
    return s + "]";
  };
  std::string s = std::string(op_name(c.op)) + "(";
  for (int i = 0; i < c.n_in; ++i) s += (i ? ", " : "") + view(c.in(i));
  s += " ->";
  for (int i = 0; i < c.n_out; ++i) s += " " + view(c.out(i));
  return s + ")";
}

}  // namespace et
