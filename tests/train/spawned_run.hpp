#pragma once
// Runs a program with its stderr read through a pipe, and acts once stderr shows a marker (sends a
// signal to it, or to one of its children): the tests of Ctrl-C, of kills, and of `mpirun`.

#include "test_support.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace spawned_run {

struct signalled_run {
    int status = -1;  // the exit status; -1 when killed by a signal
    std::string err;
    bool signalled = false;
};

// Starts `program` with argv `words` (words[0] is its name), stderr into a pipe and stdout to
// /dev/null, reads stderr until it shows `marker`, calls at_marker(pid) once, and reads on to the end.
// The pipe holds one page: the program, blocked on a full pipe, is never more than about two pages of
// log lines past the marker when at_marker acts. The child starts with SIGINT at its default and
// unblocked, whatever this process has. A run longer than 60 s is killed and fails the test.
inline signalled_run act_after(const std::string& program, std::vector<std::string> words,
                               std::string_view marker, const std::function<void(pid_t)>& at_marker) {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
    ::fcntl(fds[0], F_SETPIPE_SZ, 4096);
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawnattr_t attributes;
    ::posix_spawnattr_init(&attributes);
    sigset_t defaults, empty;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGINT);
    sigemptyset(&empty);
    ::posix_spawnattr_setsigdefault(&attributes, &defaults);
    ::posix_spawnattr_setsigmask(&attributes, &empty);
    ::posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    ::posix_spawnattr_destroy(&attributes);
    ::close(fds[1]);
    if (spawned != 0) ::close(fds[0]);
    REQUIRE_MESSAGE(spawned == 0, "posix_spawn failed: ", std::strerror(spawned));

    signalled_run run;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    char buffer[4096];
    for (;;) {
        pollfd p{fds[0], POLLIN, 0};
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) == 0) {
            ::kill(pid, SIGKILL);
            FAIL_CHECK(words[0], " did not finish within 60 s; stderr so far: ", run.err);
            break;
        }
        const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        run.err.append(buffer, static_cast<std::size_t>(n));
        if (!run.signalled && run.err.find(marker) != std::string::npos) {
            at_marker(pid);
            run.signalled = true;
        }
    }
    ::close(fds[0]);
    int raw = 0;
    while (::waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
    }
    run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
    return run;
}

// Starts `program` with argv `words`, its output to /dev/null, and kills it with SIGKILL after `delay`
// unless it ended before. Returns its exit status, or -1 when it was killed.
inline int kill_after(const std::string& program, std::vector<std::string> words,
                      std::chrono::microseconds delay) {
    posix_spawn_file_actions_t actions;
    ::posix_spawn_file_actions_init(&actions);
    ::posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    ::posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    std::vector<char*> argv;
    for (auto& w : words) argv.push_back(w.data());
    argv.push_back(nullptr);
    pid_t pid = -1;
    const int spawned = ::posix_spawn(&pid, program.c_str(), &actions, nullptr, argv.data(), environ);
    ::posix_spawn_file_actions_destroy(&actions);
    REQUIRE_MESSAGE(spawned == 0, "posix_spawn failed: ", std::strerror(spawned));
    const auto deadline = std::chrono::steady_clock::now() + delay;
    int raw = 0;
    for (;;) {
        const pid_t done = ::waitpid(pid, &raw, WNOHANG);
        if (done == pid) return WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
        if (std::chrono::steady_clock::now() >= deadline) break;
        ::usleep(200);
    }
    ::kill(pid, SIGKILL);
    while (::waitpid(pid, &raw, 0) < 0 && errno == EINTR) {
    }
    return -1;
}

// The words of a command line, for posix_spawn: split at spaces, single quotes dropped (the tests'
// paths have no spaces).
inline std::vector<std::string> words_of(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    for (char c : text + " ")
        if (c == ' ') {
            if (!word.empty()) words.push_back(word);
            word.clear();
        } else if (c != '\'') {
            word += c;
        }
    return words;
}

// The processes whose parent is `parent` (from /proc), in the order of their ids.
inline std::vector<pid_t> children_of(pid_t parent) {
    std::vector<pid_t> children;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos) continue;
        std::ifstream stat(entry.path() / "stat");
        std::string line;
        if (!std::getline(stat, line)) continue;
        const auto close = line.rfind(')');  // the command in parentheses may hold spaces
        if (close == std::string::npos) continue;
        char state = 0;
        long ppid = 0;
        if (std::sscanf(line.c_str() + close + 1, " %c %ld", &state, &ppid) == 2 && ppid == parent)
            children.push_back(static_cast<pid_t>(std::stol(name)));
    }
    std::sort(children.begin(), children.end());
    return children;
}

}  // namespace spawned_run
