# The two commands of the README:
#   make run    install missing packages, build, serve the demo on 127.0.0.1:2121
#   make test   install missing packages, build, run the whole suite (ctest)
# Extra: make test-asan (the suite under ASan+UBSan), make clean,
# make install [PREFIX=/usr/local] [DESTDIR=] (below).
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build run test test-asan deps deps-test bench clean install

all: build

deps:
	@./scripts/deps.sh build

deps-test:
	@./scripts/deps.sh test

# The daemon alone: what `make run` needs, and only the packages it installs
# (the test programs need cmocka, which only `make test` installs).
build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELAYFTPD_TESTS=OFF
	cmake --build $(BUILD) -j $(JOBS)

# The binary (PREFIX/sbin), the systemd unit (PREFIX/lib/systemd/system),
# the man pages, the logrotate snippet (/etc/logrotate.d for PREFIX=/usr,
# else PREFIX/etc/logrotate.d) and the example configs
# (PREFIX/share/doc/relayftpd), all under DESTDIR when it is set (packages).
# The prefix is given at install time, so the build itself is not redone.
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix "$(PREFIX)"

run: build
	./scripts/run-demo.sh $(BUILD)/relayftpd

test: deps-test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRELAYFTPD_TESTS=ON
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j 2

test-asan: deps-test
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DRELAYFTPD_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ctest --output-on-failure -j 2

# Every row of issue 10 against vsftpd and pure-ftpd, and the relay against
# uploading straight to its target (bench/run.py, which also builds its C
# client bench/ftpclient.c into build-bench/bench/ with the system cc: no
# CMake target, `make build` never builds it; ctest's test_bench_smoke runs
# a few small rows, building it into build/bench/); BENCH_ARGS=--quick,
# --only ROW..., --reps N, --out FILE. As root (a temporary account).
bench: deps-test
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DRELAYFTPD_TESTS=OFF
	cmake --build build-bench -j $(JOBS)
	/usr/bin/python3 bench/run.py --binary build-bench/relayftpd $(BENCH_ARGS)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
