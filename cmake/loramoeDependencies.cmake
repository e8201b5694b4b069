# Every dependency is a Debian package (scripts/dependencies lists them); nothing is downloaded.
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(xsimd REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(fmt REQUIRED)
include(loramoeXtlShim)
