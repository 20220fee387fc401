#include "ops.h"

namespace et {
namespace {
struct OpInfo {
  const char* name;
  int n_in, n_out;
};
const OpInfo kOps[] = {
#define ET_OP_INFO(name, js, nin, nout) {js, nin, nout},
    ET_OP_LIST(ET_OP_INFO)
#undef ET_OP_INFO
};
static_assert(sizeof(kOps) / sizeof(kOps[0]) == OP_COUNT, "op info table out of step");
}  // namespace

const char* op_name(int op) { return (op >= 0 && op < OP_COUNT) ? kOps[op].name : "?"; }
int op_inputs(int op) { return (op >= 0 && op < OP_COUNT) ? kOps[op].n_in : 0; }
int op_outputs(int op) { return (op >= 0 && op < OP_COUNT) ? kOps[op].n_out : 0; }

}  // namespace et
