// The CUDA backend through the package: fills device memory with a kernel of loramoe::cuda and reads it
// back. Built by the packaging test against an installed loramoe that has the CUDA backend; exits 0 when
// the values arrive, or when no GPU can be used here (it says so: then linking is what was checked).

#include <cstdio>
#include <string>
#include <vector>

#include <loramoe/cuda.hpp>

int main() {
    if (const std::string problem = loramoe::cuda_device_problem(); !problem.empty()) {
        std::printf("loramoe cuda consumer: linked, not run: %s\n", problem.c_str());
        return 0;
    }
    const loramoe::index count = 1000;
    loramoe::buffer<float, loramoe::cuda> device(count);
    loramoe::fill(loramoe::cuda{}, device.data(), count, 2.5f);
    std::vector<float> host(count);
    loramoe::copy_to_host(loramoe::cuda{}, device.data(), host.data(), count);
    int wrong = 0;
    for (const float v : host) wrong += v != 2.5f;
    std::printf("loramoe cuda consumer: %d of %d values wrong\n", wrong, static_cast<int>(count));
    return wrong == 0 ? 0 : 1;
}
