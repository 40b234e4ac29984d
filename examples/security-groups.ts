// Security groups that allow one port and block another, proven by traffic: three VMs on one OVS
// bridge (br-int) whose flows are the security groups compiled as Neutron's OVS firewall driver
// compiles them. Run it: npx sdnemu run examples/security-groups.ts
import { Topology } from '../src/topology/index.js';
import { OvsBridge } from '../src/devices/ovs-bridge.js';
import { SecurityGroups } from '../src/devices/security-group.js';
import { ping, tcpRequest, tcpServer } from '../src/netstack/tools.js';

export default async function main(): Promise<void> {
  const net = new Topology({ seed: 5 });
  const br = net.add(new OvsBridge(net.sim, 'br-int', { defaultFlows: 'none' }));
  const vms = ['web', 'db', 'client'].map((name, i) => {
    const vm = net.host(name, { ifaces: [{ name: 'eth0', mac: `fa:16:3e:00:00:0${i + 1}`, addrs: [`10.0.0.${i + 1}/24`] }] });
    net.link(vm, br, { delay: '50us', b: { iface: `tap${i + 1}` } });
    return vm;
  });
  const [web, db, client] = vms as [typeof vms[0], typeof vms[0], typeof vms[0]];
  // web: HTTP from anywhere and ping; db: 5432 from members of 'web' only; client: the default group
  const groups = [
    SecurityGroups.newGroup('web', [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 80, portRangeMax: 80 }, { direction: 'ingress', protocol: 'icmp' }]),
    SecurityGroups.newGroup('db', [{ direction: 'ingress', protocol: 'tcp', portRangeMin: 5432, portRangeMax: 5432, remoteGroupId: 'web' }]),
    SecurityGroups.newGroup('default', []),
  ];
  const ports = [['web', 'web'], ['db', 'db'], ['client', 'default']].map(([vm, sg], i) => ({
    id: vm!, ofport: br.port(`tap${i + 1}`).ofport, mac: `fa:16:3e:00:00:0${i + 1}`, fixedIps: [`10.0.0.${i + 1}`], securityGroups: [sg!], network: 1,
  }));
  br.replaceFlows(SecurityGroups.compile(ports, groups));
  tcpServer(web, 80, () => new TextEncoder().encode('HTTP/1.0 200 OK\r\n\r\nhello'));
  tcpServer(web, 22, () => new TextEncoder().encode('SSH-2.0-OpenSSH'));
  tcpServer(db, 5432, () => new TextEncoder().encode('postgres ready'));
  const say = (s: string): void => { process.stdout.write(`${s}\n`); };
  const ask = async (from: typeof web, to: string, port: number): Promise<string> => {
    const r = await tcpRequest(from, to, port, 'hi', { timeoutSec: 5 });
    return r.error ?? new TextDecoder().decode(r.response).replace(/\r\n/g, ' ');
  };
  say(`client -> web:80    ${await ask(client, '10.0.0.1', 80)}`);
  say(`client -> web:22    ${await ask(client, '10.0.0.1', 22)}`);
  say(`web    -> db:5432   ${await ask(web, '10.0.0.2', 5432)}`);
  say(`client -> db:5432   ${await ask(client, '10.0.0.2', 5432)}`);
  say(`client ping web     ${(await ping(client, '10.0.0.1', { timeout: 2 })).received} of 1 answered`);
  say(`client ping db      ${(await ping(client, '10.0.0.2', { timeout: 2 })).received} of 1 answered`);
  say('');
  say('$ ofproto/trace br-int tcp,in_port=3,dl_src=fa:16:3e:00:00:03,dl_dst=fa:16:3e:00:00:01,nw_src=10.0.0.3,nw_dst=10.0.0.1,tp_dst=22');
  say(br.trace('tcp,in_port=3,dl_src=fa:16:3e:00:00:03,dl_dst=fa:16:3e:00:00:01,nw_src=10.0.0.3,nw_dst=10.0.0.1,tp_dst=22'));
}
