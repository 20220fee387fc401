// The kernel error record: errors that only running finds (an index read from device memory
// outside its range) are written here by the shader and turned into the CPU twin's message by the
// host (csrc/vulkan/kernel_error.h) when it next waits for the device.
//
// Binding: the includer defines KERNEL_ERROR_BINDING before the include, the first binding after
// its own arguments; the host passes VulkanBackend's record buffer as that Bufs entry
// (Bufs index KERNEL_ERROR_BINDING - 1). See index_check.comp.
//
// Record, uint words: [0] 1 once claimed (atomicCompSwap 0 -> 1: the first error wins, later ones
// are dropped until the host has reported and cleared it), [1] the op id (csrc/ops.h OP_*), [2] the
// message kind (KE_*), [3] position or row, [4] the bad value, [5] the bound.
// Words 1.. are written after the claim: the host reads them only once the dispatch has finished.
#ifndef ET_KERNEL_ERROR_GLSL
#define ET_KERNEL_ERROR_GLSL

#define KE_WORDS 8
#define KE_INDEX_AT_POSITION 1  // "index V at position P is outside [0, B)"   (embedding)
#define KE_TARGET_AT_ROW 2      // "target V at row P is outside [0, B)"       (crossEntropy)

#ifndef KERNEL_ERROR_BINDING
#error "define KERNEL_ERROR_BINDING before including kernel_error.glsl"
#endif

layout(std430, binding = KERNEL_ERROR_BINDING) coherent buffer KernelErrorRecord { uint ke_words[]; };

void kernel_error(int op, int kind, int pos, int value, int bound) {
  if (atomicCompSwap(ke_words[0], 0u, 1u) != 0u) return;
  ke_words[1] = uint(op);
  ke_words[2] = uint(kind);
  ke_words[3] = uint(pos);
  ke_words[4] = uint(value);
  ke_words[5] = uint(bound);
}

#endif
