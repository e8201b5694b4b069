#pragma once
// loramoe's MPI communicator for data-parallel training (needs an MPI library: link MPI::MPI_CXX).

#include <loramoe/loramoe.hpp>
#include <loramoe/mpi/communicator.hpp>
