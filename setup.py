from configparser import ConfigParser
from pathlib import Path
import setuptools, shlex, shutil
from setuptools.command.build_py import build_py

# note: all settings are in settings.ini; edit there, not here
config = ConfigParser(delimiters=['='])
config.read('settings.ini', encoding='utf-8')
cfg = config['DEFAULT']

cfg_keys = 'version description keywords author author_email'.split()
expected = cfg_keys + "lib_name user branch license status min_python audience language".split()
for o in expected: assert o in cfg, "missing expected setting: {}".format(o)
setup_cfg = {o:cfg[o] for o in cfg_keys}

# SPDX license expressions (PEP 639): setuptools deprecates the License :: classifiers
licenses = {'apache2': 'Apache-2.0', 'mit': 'MIT'}
statuses = [ '1 - Planning', '2 - Pre-Alpha', '3 - Alpha',
    '4 - Beta', '5 - Production/Stable', '6 - Mature', '7 - Inactive' ]
py_versions = '3.10 3.11 3.12 3.13'.split()

requirements = shlex.split(cfg.get('requirements', ''))
if cfg.get('pip_requirements'): requirements += shlex.split(cfg.get('pip_requirements', ''))
min_python = cfg['min_python']
license_expression = licenses.get(cfg['license'].lower(), cfg['license'])
dev_requirements = shlex.split(cfg.get('dev_requirements', ''))


class build_py_with_template(build_py):
    "Ship the papermill template inside the package: nbs/experiments/end_to_end.ipynb stays its one source."
    def run(self):
        super().run()
        target = Path(self.build_lib) / cfg['lib_path'] / "templates" / "end_to_end.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(__file__).parent / "nbs" / "experiments" / "end_to_end.ipynb", target)

setuptools.setup(
    cmdclass = {'build_py': build_py_with_template},
    name = cfg['lib_name'],
    license_expression = license_expression,
    classifiers = [
        'Development Status :: ' + statuses[int(cfg['status'])],
        'Intended Audience :: ' + cfg['audience'].title(),
        'Natural Language :: ' + cfg['language'].title(),
    ] + ['Programming Language :: Python :: '+o for o in py_versions[py_versions.index(min_python):]],
    url = cfg['git_url'],
    # params/ (pyradiomics YAML) and knowledge/ (the glossary CSV) are data folders inside the package
    packages = setuptools.find_packages(include=['radllm', 'radllm.*']) + ['radllm.params', 'radllm.knowledge'],
    include_package_data = True,
    package_data = {'radllm': ['params/*.yaml', 'knowledge/*.csv']},
    install_requires = requirements,
    extras_require = {'dev': dev_requirements},
    dependency_links = cfg.get('dep_links','').split(),
    python_requires  = '>=' + cfg['min_python'],
    long_description = open('README.md', encoding='utf-8').read(),
    long_description_content_type = 'text/markdown',
    zip_safe = False,
    entry_points = {
        'console_scripts': cfg.get('console_scripts','').split(),
        'nbdev': [f'{cfg.get("lib_path")}={cfg.get("lib_path")}._modidx:d']
    },
    **setup_cfg)
