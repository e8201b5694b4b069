#include "ranks.hpp"

#include <cstdlib>
#include <memory>
#include <string>

#include <fmt/format.h>

#include <loramoe/core/error.hpp>
#ifdef LORAMOE_CLI_MPI
#include <loramoe/mpi/communicator.hpp>
#endif

namespace loramoe::cli {

namespace {

// The number of processes a launcher says it started: Open MPI's, MPICH's (Hydra, PMI) or Slurm's; 0
// when no launcher started this process.
long launched_processes() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
        if (const char* value = std::getenv(name)) return std::strtol(value, nullptr, 10);
    if (std::getenv("SLURM_PROCID") != nullptr)
        if (const char* value = std::getenv("SLURM_STEP_NUM_TASKS")) return std::strtol(value, nullptr, 10);
    return 0;
}

#ifdef LORAMOE_CLI_MPI
struct mpi_ranks {
    mpi_ranks() : session(nullptr, nullptr), world() {}
    mpi_session session;
    mpi_communicator world;
};
std::unique_ptr<mpi_ranks> mpi;  // destroyed at exit: MPI_Finalize
#endif

}  // namespace

communicator_ref launched_ranks() {
    const long processes = launched_processes();
#ifdef LORAMOE_CLI_MPI
    if (processes > 0) {
        if (!mpi) mpi = std::make_unique<mpi_ranks>();
        return mpi->world;
    }
#else
    if (processes > 1)
        fail<value_error>(
            "{} processes were launched (mpirun, srun), but this loramoe was built without MPI: each would "
            "train alone; install Open MPI (libopenmpi-dev) and build again, or run one process",
            processes);
#endif
    return {};
}

void stop_other_ranks(int status) {
#ifdef LORAMOE_CLI_MPI
    if (mpi && mpi->world.size() > 1) mpi->world.abort(status);
#endif
    (void)status;
}

std::string rank_prefix() {
#ifdef LORAMOE_CLI_MPI
    if (mpi && mpi->world.size() > 1)
        return fmt::format("rank {} of {}: ", mpi->world.rank(), mpi->world.size());
#endif
    return "";
}

}  // namespace loramoe::cli
