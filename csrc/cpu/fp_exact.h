// Include first in a file whose float arithmetic must round every operation as written (no fused
// multiply-add contraction), e.g. to match llama.cpp's reference C code bit for bit.
#pragma once
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif
