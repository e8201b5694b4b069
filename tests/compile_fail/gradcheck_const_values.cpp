// Must not compile: gradcheck perturbs a tensor's values in place, so const values are refused with a
// message that says what to pass instead (tests/CMakeLists.txt builds this and expects the message).

#include <vector>

#include <loramoe/check/gradcheck.hpp>

int main() {
    const std::vector<double> values(3);
    std::vector<double> gradient(3);
    const loramoe::check::gradcheck_tensor tensor{"values", values, gradient};
    return static_cast<int>(tensor.name.size());
}
