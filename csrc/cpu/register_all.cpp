// Entry point of one per-ISA build of the CPU kernels (see kernels.h).
#include "kernels.h"

namespace et {
namespace ET_ISA {
void register_all_kernels(KernelFn* t) { register_all(t); }
}  // namespace ET_ISA
}  // namespace et
