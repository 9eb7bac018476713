import charms.coordinator
from charmhelpers.core.hookenv import status_set
from charms.reactive import clear_flag, set_flag, when, when_not


@when('config.changed')
def config_changed():
    write_config()
    set_flag('mycharm.restart-needed')


@when('mycharm.restart-needed')
@when_not('coordinator.requested.restart', 'coordinator.granted.restart')
def request_restart():
    # Ask only when not waiting or holding: an unguarded acquire() in the hooks that
    # coordination itself triggers makes a new request each time, a hook loop.
    charms.coordinator.acquire('restart')


@when('coordinator.granted.restart', 'mycharm.restart-needed')
def restart():
    status_set('maintenance', 'Rolling restart')
    restart_service()
    clear_flag('mycharm.restart-needed')
    status_set('active', 'Live')


# What the README leaves to the charm author (the fixture's part: the code
# above is the README's quick start, verbatim; test_simulate.py checks it).
from charmhelpers.core.hookenv import config, log


def write_config():
    with open('service.conf', 'w') as f:
        f.write('version = %s\n' % config('version'))


def restart_service():
    log('mycharm: service restarted')
