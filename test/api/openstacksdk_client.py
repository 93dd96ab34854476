"""Debian's python3-openstacksdk (conn.instance_ha), unmodified, against a Masakari v1 API.

Run by test/api/openstacksdk.int.test.ts: Keystone password auth from the environment
(SDK_AUTH_URL, SDK_USERNAME, SDK_PASSWORD, SDK_PROJECT), the instance-ha endpoint given as
an endpoint override (SDK_ENDPOINT), compute host names in SDK_HOSTS. Prints one JSON
document with what each step saw; the test checks it.
"""
import json
import os
import sys
import uuid

import openstack
from openstack import exceptions

env = os.environ
conn = openstack.connect(
    auth_url=env['SDK_AUTH_URL'],
    username=env['SDK_USERNAME'],
    password=env['SDK_PASSWORD'],
    project_name=env['SDK_PROJECT'],
    user_domain_name='Default',
    project_domain_name='Default',
    instance_ha_endpoint_override=env['SDK_ENDPOINT'],
)
ha = conn.instance_ha
hosts = env['SDK_HOSTS'].split(',')
tag = uuid.uuid4().hex[:8]
out = {}

# Segments: create five, then let the SDK page through them two at a time with its own markers.
st = 'SDK' + tag
made = [ha.create_segment(name='sdk-%s-%d' % (tag, i), recovery_method='auto', service_type=st) for i in range(5)]
out['created'] = [s.uuid for s in made]
out['paged'] = [s.uuid for s in ha.segments(service_type=st, limit=2)]
out['paged_sorted'] = [s.name for s in ha.segments(service_type=st, limit=2, sort_key='name', sort_dir='asc')]
seg = made[0]
got = ha.get_segment(seg.uuid)
out['get_segment'] = {'uuid': got.uuid, 'name': got.name, 'id': got.id}
upd = ha.update_segment(seg.uuid, description='changed by the sdk')
out['update_segment'] = upd.description

# Hosts: the compute hosts of Nova, paged one at a time.
for h in hosts:
    ha.create_host(seg.uuid, name=h, type='COMPUTE', control_attributes='SSH')
out['hosts_paged'] = sorted(h.name for h in ha.hosts(seg.uuid, limit=1))
first = [h for h in ha.hosts(seg.uuid) if h.name == hosts[0]][0]
host = ha.get_host(first.uuid, seg.uuid)
out['get_host'] = {'name': host.name, 'failover_segment_id': host.failover_segment_id}
out['update_host'] = ha.update_host(first.uuid, seg.uuid, reserved=True).reserved
ha.delete_host(first.uuid, seg.uuid)
out['hosts_after_delete'] = sorted(h.name for h in ha.hosts(seg.uuid))
try:
    ha.create_host(seg.uuid, name='no-such-host-%s' % tag, type='COMPUTE', control_attributes='SSH')
    out['unknown_host'] = 'accepted'
except exceptions.HttpException as e:
    out['unknown_host'] = e.status_code

# Notifications: three from different hosts, paged one at a time.
ids = []
for h in hosts[1:]:
    n = ha.create_notification(type='COMPUTE_HOST', hostname=h, generated_time='2026-01-01T00:00:00',
                               payload={'event': 'STARTED', 'host_status': 'NORMAL', 'cluster_status': 'ONLINE'})
    ids.append(n.notification_uuid)
out['notifications_created'] = ids
out['notifications_paged'] = [n.notification_uuid for n in ha.notifications(limit=1)]
out['get_notification'] = ha.get_notification(ids[0]).notification_uuid

# Clean up through the SDK too (the first segment has notifications in progress: it stays).
for s in made[1:]:
    ha.delete_segment(s.uuid)
out['remaining'] = [s.uuid for s in ha.segments(service_type=st)]
json.dump(out, sys.stdout)
