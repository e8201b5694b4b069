# MPI for data-parallel training (<loramoe/mpi.hpp>, `mpirun -np K loramoe train`), when CMake finds an
# MPI library (Debian: libopenmpi-dev, openmpi-bin). Sets LORAMOE_MPI_ENABLED and LORAMOE_MPIEXEC (the
# launcher the tests run); without MPI the build goes on, one process only.
find_package(MPI COMPONENTS CXX)
if(MPI_CXX_FOUND AND MPIEXEC_EXECUTABLE)
    set(LORAMOE_MPI_ENABLED ON)
    set(LORAMOE_MPIEXEC "${MPIEXEC_EXECUTABLE}")
else()
    set(LORAMOE_MPI_ENABLED OFF)
    set(LORAMOE_MPIEXEC "")
    message(STATUS "loramoe: no MPI found (install libopenmpi-dev openmpi-bin): training runs in one process only")
endif()
