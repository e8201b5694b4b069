#pragma once
// The ranks of a data-parallel run (`mpirun -np K loramoe train ...`): MPI_COMM_WORLD's when a launcher
// (mpirun, mpiexec, srun) started this process and the program was built with MPI (CMake defines
// LORAMOE_CLI_MPI); one process otherwise, without starting MPI. A launcher that starts K > 1 copies of
// a program built without MPI is refused: each copy would train alone and write the same files.

#include <string>

#include <loramoe/core/communicator.hpp>

namespace loramoe::cli {

// This process's ranks; MPI starts on the first call and ends at exit.
communicator_ref launched_ranks();

// Ends every rank (MPI_Abort) after a failure in one, so that the others do not wait in a sum for it;
// returns when there is one rank.
void stop_other_ranks(int status);

// The prefix of this rank's messages: "" alone, "rank R of K: " among several.
std::string rank_prefix();

}  // namespace loramoe::cli
