// loramoe: the command-line program. Exit status 0 on success, 1 when the work failed (bad input data,
// a file that cannot be read or written), 2 for a bad command line, 130 when Ctrl-C stopped a run
// after it saved its state. Messages go to stderr. Under mpirun a failure on one rank ends every rank.

#include <exception>
#include <iostream>

#include <loramoe/core/error.hpp>

#include "commands.hpp"
#include "ranks.hpp"

int main(int argc, char** argv) {
    CLI::App app{"loramoe: LoRAMoE on a frozen LLaMA (CPU reference, cross-checks, training, the demo)",
                 "loramoe"};
    app.require_subcommand(1);
    loramoe::cli::add_layer_command(app);
    loramoe::cli::add_model_command(app);
    loramoe::cli::add_train_command(app);
    loramoe::cli::add_eval_command(app);
    loramoe::cli::add_generate_command(app);
    loramoe::cli::add_demo_command(app);
    loramoe::cli::add_tokenize_command(app);
    auto command = [&] {
        return app.get_subcommands().empty() ? std::string("loramoe")
                                             : "loramoe " + app.get_subcommands().front()->get_name();
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    } catch (const loramoe::cli::interruption& e) {
        std::cerr << loramoe::cli::rank_prefix() << command() << ": " << e.what() << '\n';
        return 130;
    } catch (const std::exception& e) {
        std::cerr << loramoe::cli::rank_prefix() << command() << ": " << e.what() << std::endl;
        loramoe::cli::stop_other_ranks(1);
        return 1;
    }
    return 0;
}
