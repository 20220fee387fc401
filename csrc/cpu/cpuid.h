#pragma once

namespace et {
// True when the running CPU (and OS) can execute the AVX2+FMA+F16C kernel set.
bool cpu_has_avx2_fma();
}

namespace et {
// Measured core clock in GHz (0 where it cannot be measured).
double cpu_clock_ghz();
}
