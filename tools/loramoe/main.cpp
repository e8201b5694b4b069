// loramoe: the command-line program. Exit status 0 on success, 1 when the work failed (bad input data,
// a file that cannot be read or written), 2 for a bad command line. Messages go to stderr.

#include <exception>
#include <iostream>

#include <loramoe/core/error.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
    CLI::App app{"loramoe: LoRAMoE on a frozen LLaMA (CPU reference, cross-checks, training, the demo)", "loramoe"};
    app.require_subcommand(1);
    loramoe::cli::add_layer_command(app);
    loramoe::cli::add_model_command(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    } catch (const std::exception& e) {
        const auto* command = app.get_subcommands().empty() ? nullptr : app.get_subcommands().front();
        std::cerr << "loramoe" << (command ? " " + command->get_name() : std::string()) << ": " << e.what() << '\n';
        return 1;
    }
    return 0;
}
